package org.kerascv.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The core against the Python exporter's test vectors: input tensors byte for byte, decoded
 * results exactly (classification scores within one output quantization step).
 */
public class VectorsTest {

    private static void assertBytes(String what, byte[] expected, byte[] actual) {
        assertEquals(what + ": length", expected.length, actual.length);
        int diff = 0;
        int first = -1;
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] != actual[i]) {
                diff++;
                if (first < 0) {
                    first = i;
                }
            }
        }
        assertEquals(what + ": " + diff + " of " + expected.length + " bytes differ"
                + (first >= 0 ? " (first at " + first + ": expected " + expected[first] + ", got "
                + actual[first] + ")" : ""), 0, diff);
    }

    /** The app's preprocessing of the vector's source image gives the input tensor's bytes. */
    private static void assertInputTensorMatches(String task) throws Exception {
        Path dir = Vectors.dir(task);
        Contract contract = Vectors.contract(dir);
        FloatImage source = Vectors.image(dir.resolve("source.png"));
        assertTrue("the vector must exercise the resize",
                source.height != contract.inputHeight() || source.width != contract.inputWidth());
        assertBytes(task + " input", Vectors.bytes(dir.resolve("input.bin")),
                Preprocess.inputTensor(contract, source));
    }

    @Test
    public void classificationInputTensorMatchesBytes() throws Exception {
        assertInputTensorMatches("classification");
    }

    @Test
    @SuppressWarnings("unchecked")
    public void classificationTopKMatches() throws Exception {
        Path dir = Vectors.dir("classification");
        Contract contract = Vectors.contract(dir);
        Map<String, Object> expected = Vectors.json(dir.resolve("expected.json"));
        List<Object> top = (List<Object>) expected.get("top_k");
        double step = (Double) expected.get("score_step");
        List<TopK.Entry> got = TopK.decode(contract, Vectors.bytes(dir.resolve("output.bin")), top.size());
        assertEquals(top.size(), got.size());
        for (int i = 0; i < top.size(); i++) {
            Map<String, Object> e = (Map<String, Object>) top.get(i);
            assertEquals("rank " + i + " class", (int) (double) (Double) e.get("index"), got.get(i).index);
            assertEquals("rank " + i + " label", e.get("label"), got.get(i).label);
            assertEquals("rank " + i + " score", (Double) e.get("score"), got.get(i).score, step);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void mediaPipeClassifierRanksLikeTheCore() throws Exception {
        Path dir = Vectors.dir("classification");
        Contract contract = Vectors.contract(dir);
        FloatImage resized = Preprocess.resizeForModel(contract, Vectors.image(dir.resolve("source.png")));
        // the 8-bit bitmap MediaPipe is given carries exactly the core's input bytes
        assertTrue(Preprocess.bitmapIsTensor(contract, resized, Vectors.bytes(dir.resolve("input.bin"))));
        List<Object> categories = (List<Object>) Vectors.json(dir.resolve("mediapipe.json")).get("categories");
        assertEquals(contract.labels.size(), categories.size());
        List<Map<String, Object>> sorted = new ArrayList<>();
        for (Object o : categories) {
            sorted.add((Map<String, Object>) o);
        }
        // the app orders MediaPipe's categories by (score desc, class id asc)
        sorted.sort((a, b) -> {
            int byScore = Double.compare((Double) b.get("score"), (Double) a.get("score"));
            return byScore != 0 ? byScore : Double.compare((Double) a.get("index"), (Double) b.get("index"));
        });
        List<TopK.Entry> core = TopK.decode(contract, Vectors.bytes(dir.resolve("output.bin")), sorted.size());
        for (int i = 0; i < sorted.size(); i++) {
            assertEquals("rank " + i, core.get(i).index, (int) (double) (Double) sorted.get(i).get("index"));
            assertEquals("rank " + i + " score", core.get(i).score, (Double) sorted.get(i).get("score"), 1e-7);
            assertEquals("rank " + i + " name", core.get(i).label, sorted.get(i).get("name"));
        }
    }

    @Test
    public void mediaPipeSegmenterConfidenceArgmaxIsTheCoreMask() throws Exception {
        Path dir = Vectors.dir("segmentation");
        Contract contract = Vectors.contract(dir);
        FloatImage resized = Preprocess.resizeForModel(contract, Vectors.image(dir.resolve("source.png")));
        assertTrue(Preprocess.bitmapIsTensor(contract, resized, Vectors.bytes(dir.resolve("input.bin"))));
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(Vectors.bytes(dir.resolve("mediapipe_confidence.bin")))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        float[] confidence = new float[buf.remaining() / 4];
        buf.asFloatBuffer().get(confidence);
        int classes = contract.labels.size();
        byte[] raw = Vectors.bytes(dir.resolve("output.bin"));
        assertArrayEquals("MediaPipe's confidence masks are the dequantized output",
                Quantization.dequantize(raw, contract.output), confidence, 0f);
        assertArrayEquals(Segmentation.argmax(raw, contract.output, classes),
                Segmentation.argmax(confidence, classes));
    }

    @Test
    public void segmentationInputTensorMatchesBytes() throws Exception {
        assertInputTensorMatches("segmentation");
    }

    @Test
    @SuppressWarnings("unchecked")
    public void segmentationMaskColoursAndOverlayMatch() throws Exception {
        Path dir = Vectors.dir("segmentation");
        Contract contract = Vectors.contract(dir);
        FloatImage source = Vectors.image(dir.resolve("source.png"));
        int classes = contract.labels.size();
        int[] labels = Segmentation.argmax(Vectors.bytes(dir.resolve("output.bin")), contract.output, classes);
        int[] mask = Resize.nearest(labels, contract.output.dim(1), contract.output.dim(2),
                source.height, source.width);
        int[] shape = new int[3];
        assertArrayEquals("mask.png", Vectors.samples(dir.resolve("mask.png"), shape), mask);
        assertArrayEquals("colored.png", Vectors.samples(dir.resolve("colored.png"), shape),
                Segmentation.colorize(mask, classes));
        Map<String, Object> expected = Vectors.json(dir.resolve("expected.json"));
        double alpha = (Double) expected.get("overlay_alpha");
        assertEquals(alpha, Segmentation.OVERLAY_ALPHA, 0.0);
        assertArrayEquals("overlay.png", Vectors.samples(dir.resolve("overlay.png"), shape),
                Segmentation.overlay(source, mask, classes, Segmentation.OVERLAY_ALPHA));
        List<Object> counts = (List<Object>) expected.get("class_pixels");
        int[] got = Segmentation.classPixels(mask, classes);
        for (int c = 0; c < classes; c++) {
            assertEquals("pixels of class " + c, (int) (double) (Double) counts.get(c), got[c]);
        }
    }

    /**
     * Replays the recorded tiles of an image-to-image vector: every tile's input bytes must be the
     * core's, the recorded output goes back through the core's tiling and rounding.
     */
    @SuppressWarnings("unchecked")
    private static void assertTiledVectorMatches(String task, String png) throws Exception {
        Path dir = Vectors.dir(task);
        Contract contract = Vectors.contract(dir);
        Map<String, Object> expected = Vectors.json(dir.resolve("expected.json"));
        int tile = (int) (double) (Double) expected.get("tile");
        int overlap = (int) (double) (Double) expected.get("overlap");
        int tiles = ((List<Object>) expected.get("tiles")).size();
        FloatImage source = Vectors.image(dir.resolve("source.png"));
        List<int[]> shapes = new ArrayList<>();
        Tiling.TilePredictor replay = Tiling.quantizedPredictor(contract, (input, shape) -> {
            int i = shapes.size();
            shapes.add(shape);
            try {
                assertBytes(task + " tile " + i + " input", Vectors.bytes(dir.resolve("tiles/" + i + "_in.bin")), input);
                return Vectors.bytes(dir.resolve("tiles/" + i + "_out.bin"));
            } catch (java.io.IOException e) {
                throw new RuntimeException(e);
            }
        });
        FloatImage out = contract.task == Contract.Task.RESTORATION
                ? Restoration.restoreTiled(replay, source, tile, overlap)
                : SuperResolution.upscaleTiled(replay, source, contract.scale, tile, overlap);
        assertEquals("tiles run", tiles, shapes.size());
        assertTrue("the vector must need several tiles", tiles > 1);
        int[] shape = new int[3];
        int[] expectedPixels = Vectors.samples(dir.resolve(png), shape);
        assertEquals(shape[0], out.height);
        assertEquals(shape[1], out.width);
        assertArrayEquals(png, expectedPixels, Tiling.toUint8(out));
    }

    @Test
    public void superResolutionTilesAndImageMatch() throws Exception {
        assertTiledVectorMatches("super_resolution", "sr.png");
    }

    @Test
    public void restorationTilesAndImageMatch() throws Exception {
        Contract contract = Vectors.contract(Vectors.dir("restoration"));
        assertEquals(Contract.Task.RESTORATION, contract.task);
        assertEquals(1, contract.scale);
        assertEquals("uint8", contract.input.dtype);
        assertEquals("uint8", contract.output.dtype);
        assertTiledVectorMatches("restoration", "restored.png");
    }

    @Test
    public void restorationContractCarriesThePythonTiling() throws Exception {
        Contract contract = Vectors.contract(Vectors.dir("restoration"));
        // RestorationTask's defaults (tile 128, context 24), written by the exporter
        assertEquals(128, contract.tile);
        assertEquals(24, contract.overlap);
    }
}
