package org.kerascv.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * Detection against the exporter's vectors (an int8 file ending in TFLite_Detection_PostProcess,
 * run by LiteRT): the input tensor byte for byte (stretch and letterbox), the decoded detections
 * (class, label, score exactly; photo pixels within 1e-4 px), quantized outputs, drawing.
 */
public class DetectionTest {
    private static final double PIXEL_TOLERANCE = 1e-4;
    private static final String[] OUTPUTS = {"boxes", "classes", "scores", "count"};

    private static byte[][] raw(Path dir) throws Exception {
        byte[][] out = new byte[4][];
        for (int i = 0; i < 4; i++) {
            out[i] = Vectors.bytes(dir.resolve(OUTPUTS[i] + ".bin"));
        }
        return out;
    }

    private static int asInt(Object v) {
        return (int) (double) (Double) v;
    }

    @SuppressWarnings("unchecked")
    private static void assertDetections(String what, List<Object> expected, List<Detection> got, double pixelTol,
                                         double scoreTol) {
        assertEquals(what + ": count", expected.size(), got.size());
        for (int i = 0; i < expected.size(); i++) {
            Map<String, Object> e = (Map<String, Object>) expected.get(i);
            Detection d = got.get(i);
            assertEquals(what + " " + i + " class", asInt(e.get("class_id")), d.classId);
            assertEquals(what + " " + i + " label", e.get("label"), d.label);
            assertEquals(what + " " + i + " score", (Double) e.get("score"), d.score, scoreTol);
            List<Object> p = (List<Object>) e.get("box_pixels");
            double[] px = {d.top, d.left, d.bottom, d.right};
            String[] names = {"top", "left", "bottom", "right"};
            for (int k = 0; k < 4; k++) {
                assertEquals(what + " " + i + " " + names[k] + " (" + d + ")", (Double) p.get(k), px[k], pixelTol);
            }
        }
    }

    /** The vector's photo through the core: input bytes, fit and decoded detections. */
    @SuppressWarnings("unchecked")
    private static void assertVector(String task, String fit) throws Exception {
        Path dir = Vectors.dir(task);
        Contract c = Vectors.contract(dir);
        assertEquals(Contract.Task.DETECTION, c.task);
        assertEquals(fit, c.fit);
        FloatImage source = Vectors.image(dir.resolve("source.png"));
        assertNotEquals("the vector's photo must not be square", source.height, source.width);
        byte[] expectedInput = Vectors.bytes(dir.resolve("input.bin"));
        byte[] input = Preprocess.inputTensor(c, source);
        int diff = 0;
        for (int i = 0; i < input.length; i++) {
            diff += input[i] != expectedInput[i] ? 1 : 0;
        }
        assertEquals(task + " input length", expectedInput.length, input.length);
        assertEquals(task + " input: bytes differ", 0, diff);
        Map<String, Object> expected = Vectors.json(dir.resolve("expected.json"));
        Map<String, Object> f = (Map<String, Object>) expected.get("fit");
        Fit got = Preprocess.fit(c, source.height, source.width);
        assertEquals("fit top", asInt(f.get("top")), got.top);
        assertEquals("fit left", asInt(f.get("left")), got.left);
        assertEquals("fit content height", asInt(f.get("content_height")), got.contentHeight);
        assertEquals("fit content width", asInt(f.get("content_width")), got.contentWidth);
        float threshold = (float) (double) (Double) expected.get("score_threshold");
        List<Detection> kept = Detection.decode(c, raw(dir), got, threshold);
        List<Object> want = (List<Object>) expected.get("detections");
        List<Object> all = (List<Object>) expected.get("all_detections");
        assertTrue("the threshold must drop some detections", want.size() > 0 && want.size() < all.size());
        assertDetections(task, want, kept, PIXEL_TOLERANCE, 0);
        assertDetections(task + " (all)", all, Detection.decode(c, raw(dir), got, 0f), PIXEL_TOLERANCE, 0);
    }

    @Test
    public void stretchedInputAndDecodedBoxesMatchTheExporter() throws Exception {
        assertVector("detection", Contract.FIT_STRETCH);
    }

    @Test
    public void letterboxedInputAndDecodedBoxesMatchTheExporter() throws Exception {
        assertVector("detection_letterbox", Contract.FIT_LETTERBOX);
        Contract c = Vectors.contract(Vectors.dir("detection_letterbox"));
        assertEquals(114f, c.padValue, 0f);
    }

    private static float[] floats(byte[] raw) {
        float[] out = new float[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    /** A contract whose boxes and scores outputs are uint8 / int8 (other exporters make these). */
    @SuppressWarnings("unchecked")
    @Test
    public void quantizedOutputsAreDequantized() throws Exception {
        Path dir = Vectors.dir("detection");
        Map<String, Object> root = Vectors.json(dir.resolve("contract.json"));
        List<Object> outs = (List<Object>) root.get("outputs");
        Map<String, Object> boxes = (Map<String, Object>) outs.get(0);
        Map<String, Object> scores = (Map<String, Object>) outs.get(2);
        float boxScale = 1.5f / 255f;
        int boxZero = 85;  // uint8 covering [-0.5, 1.0]
        float scoreScale = 1f / 256f;
        int scoreZero = -128;  // int8 covering [0, 1)
        boxes.put("dtype", "uint8");
        boxes.put("quantization", Map.of("scale", (double) boxScale, "zero_point", (double) boxZero));
        scores.put("dtype", "int8");
        scores.put("quantization", Map.of("scale", (double) scoreScale, "zero_point", (double) scoreZero));
        Contract q = Contract.parse(Json.write(root), "quantized.json");
        byte[][] raw = raw(dir);
        raw[0] = Quantization.quantize(floats(raw[0]), q.outputs.get(0));
        raw[2] = Quantization.quantize(floats(raw[2]), q.outputs.get(2));
        FloatImage source = Vectors.image(dir.resolve("source.png"));
        Fit fit = Preprocess.fit(q, source.height, source.width);
        List<Object> all = (List<Object>) Vectors.json(dir.resolve("expected.json")).get("all_detections");
        // half a quantization step of a ratio, in photo pixels of the larger side
        double tol = boxScale / 2 * Math.max(source.height, source.width) + 1e-6;
        assertDetections("quantized", all, Detection.decode(q, raw, fit, 0f), tol, scoreScale / 2 + 1e-7);
    }

    @Test
    public void fitMapsRatiosBackToThePhoto() {
        // 45 x 70 photo into 64 x 64: scale 64/70, content 41 x 64 at row 11
        Fit f = Fit.of(Contract.FIT_LETTERBOX, 45, 70, 64, 64);
        assertEquals(41, f.contentHeight);
        assertEquals(64, f.contentWidth);
        assertEquals(11, f.top);
        assertEquals(0, f.left);
        assertEquals(0.0, f.rowToPixels(11.0 / 64), 1e-9);          // the content's first row
        assertEquals(45.0, f.rowToPixels(52.0 / 64), 1e-9);         // its last edge
        assertEquals(0.0, f.rowToPixels(0.05), 0.0);                 // in the padding: clipped
        assertEquals(35.0, f.colToPixels(0.5), 1e-9);
        Fit s = Fit.of(Contract.FIT_STRETCH, 45, 70, 64, 64);
        assertEquals(22.5, s.rowToPixels(0.5), 1e-9);
        assertEquals(70.0, s.colToPixels(1.2), 0.0);
    }

    @Test
    public void drawsOutlineAndCaptionInTheClassColour() {
        int w = 60;
        int h = 40;
        int[] argb = new int[w * h];
        java.util.Arrays.fill(argb, 0xff101010);
        Detection d = new Detection(1, "sq", 0.5f, new float[4], 12.0, 5.0, 30.0, 25.0);
        Detection.draw(argb, w, h, List.of(d), 3);
        int color = Detection.color(1, 3);
        assertEquals(0xff008000, color);  // VOC colour 2 for class id 1
        assertEquals("top edge", color, argb[12 * w + 15]);
        assertEquals("left edge", color, argb[20 * w + 5]);
        assertEquals("right edge (x = 24)", color, argb[20 * w + 24]);
        assertEquals("bottom edge (y = 29)", color, argb[29 * w + 15]);
        assertEquals("inside", 0xff101010, argb[20 * w + 15]);
        assertEquals("right of the box", 0xff101010, argb[20 * w + 26]);
        assertEquals("below the box", 0xff101010, argb[31 * w + 15]);
        // caption bar above the box (rows 5..11), "SQ 0.50" in white ink on it
        int bar = 0;
        int ink = 0;
        for (int y = 5; y < 12; y++) {
            for (int x = 5; x < 5 + 7 * 4 + 1; x++) {
                bar += argb[y * w + x] == color ? 1 : 0;
                ink += argb[y * w + x] == 0xffffffff ? 1 : 0;
            }
        }
        assertTrue("caption bar: " + bar, bar > 100);
        assertTrue("caption text: " + ink, ink > 20);
        // boxes reaching past the image are clipped, not refused
        Detection.draw(argb, w, h, List.of(new Detection(0, "x", 1f, new float[4], -5, -5, 100, 100)), 3);
        assertEquals(Detection.color(0, 3), argb[0]);
        assertEquals(Detection.color(0, 3), argb[h * w - 1]);
    }

    @Test
    public void refusesOutputsOfTheWrongSize() throws Exception {
        Path dir = Vectors.dir("detection");
        Contract c = Vectors.contract(dir);
        byte[][] raw = raw(dir);
        raw[2] = java.util.Arrays.copyOf(raw[2], raw[2].length - 4);
        try {
            Detection.decode(c, raw, Preprocess.fit(c, 10, 10), 0f);
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("output 2"));
            return;
        }
        throw new AssertionError("a short scores tensor must be refused");
    }
}
