package org.kerascv.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.List;
import java.util.Map;
import org.junit.Test;

/** Contract parsing: the fields read, and clear errors for missing or inconsistent ones. */
public class ContractTest {
    private static final String CLASSIFIER = "{\"task\": \"classification\","
            + " \"input\": {\"shape\": [1, 4, 6, 3], \"dtype\": \"uint8\","
            + "  \"quantization\": {\"scale\": 1.0, \"zero_point\": 0},"
            + "  \"normalization\": {\"mean\": [10, 20, 30], \"std\": 2}},"
            + " \"output\": {\"shape\": [1, 3], \"dtype\": \"int8\", \"meaning\": \"probabilities\","
            + "  \"quantization\": {\"scale\": 0.00390625, \"zero_point\": -128}},"
            + " \"labels\": [\"a\", \"b\", \"c\"]}";

    private static String expectError(String json) {
        try {
            Contract.parse(json, "model.json");
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("model.json: "));
            return e.getMessage();
        }
        fail("expected a ContractException for " + json);
        return null;
    }

    @Test
    public void readsEveryField() {
        Contract c = Contract.parse(CLASSIFIER, "model.json");
        assertEquals(Contract.Task.CLASSIFICATION, c.task);
        assertEquals(4, c.inputHeight());
        assertEquals(6, c.inputWidth());
        assertEquals("uint8", c.input.dtype);
        assertEquals(-128, c.output.zeroPoint);
        assertEquals(0.00390625f, c.output.scale, 0f);
        assertArrayEquals(new float[] {10, 20, 30}, c.mean, 0f);
        assertArrayEquals(new float[] {2, 2, 2}, c.std, 0f);
        assertEquals("probabilities", c.outputMeaning);
        assertEquals(List.of("a", "b", "c"), c.labels);
        assertEquals(Contract.RESIZE_BILINEAR_ANTIALIAS, c.resize);
    }

    @Test
    public void normalizationAndQuantizationBuildTheInput() {
        Contract c = Contract.parse(CLASSIFIER.replace("[1, 4, 6, 3]", "[1, 1, 1, 3]"), "model.json");
        FloatImage px = new FloatImage(1, 1, 3, new float[] {20f, 20f, 541f});
        byte[] in = Preprocess.inputTensor(c, px);
        // (20-10)/2 = 5, (20-20)/2 = 0, (541-30)/2 = 255.5 -> rint = 256 -> clamped to 255
        assertEquals(5, in[0] & 0xff);
        assertEquals(0, in[1] & 0xff);
        assertEquals(255, in[2] & 0xff);
    }

    @Test
    public void inputRangeStandsInForNormalization() {
        String json = CLASSIFIER.replace(",  \"normalization\": {\"mean\": [10, 20, 30], \"std\": 2}}", "}")
                .replace("\"labels\"", "\"input_range\": [-1.0, 1.0], \"labels\"");
        Contract c = Contract.parse(json, "model.json");
        assertEquals(127.5f, c.mean[0], 0f);
        assertEquals(127.5f, c.std[0], 0f);
    }

    @Test
    public void missingFieldsAreNamed() {
        assertTrue(expectError(CLASSIFIER.replace("\"task\": \"classification\",", ""))
                .contains("'task' is missing"));
        assertTrue(expectError(CLASSIFIER.replace("\"scale\": 1.0, ", ""))
                .contains("'input.quantization.scale' is missing"));
        assertTrue(expectError(CLASSIFIER.replace(", \"labels\": [\"a\", \"b\", \"c\"]", ""))
                .contains("'labels' is missing"));
        String noNorm = CLASSIFIER.replace(",  \"normalization\": {\"mean\": [10, 20, 30], \"std\": 2}}", "}");
        assertTrue(expectError(noNorm).contains("'input.normalization' is missing"));
    }

    @Test
    public void inconsistentFieldsAreRefused() {
        assertTrue(expectError(CLASSIFIER.replace("[\"a\", \"b\", \"c\"]", "[\"a\", \"b\"]"))
                .contains("'labels' has 2 names but the output has 3 classes"));
        assertTrue(expectError(CLASSIFIER.replace("\"zero_point\": -128", "\"zero_point\": 200"))
                .contains("outside the int8 range"));
        assertTrue(expectError(CLASSIFIER.replace("\"scale\": 0.00390625", "\"scale\": 0"))
                .contains("positive scale"));
        assertTrue(expectError(CLASSIFIER.replace("\"uint8\"", "\"int4\"")).contains("'input.dtype'"));
        assertTrue(expectError(CLASSIFIER.replace("\"std\": 2", "\"std\": [1, 2]")).contains("one per channel"));
        assertTrue(expectError(CLASSIFIER.replace("classification", "generation")).contains("'task' is 'generation'"));
        // a detector needs the four TFLite_Detection_PostProcess outputs
        assertTrue(expectError(CLASSIFIER.replace("classification", "detection")).contains("'outputs' has 1 tensors"));
        assertTrue(expectError(CLASSIFIER.replace("[1, 4, 6, 3]", "[1, 4, 6, 2]")).contains("'input.shape'"));
        assertTrue(expectError(CLASSIFIER.replace("\"dtype\": \"uint8\",",
                "\"dtype\": \"uint8\", \"resize\": \"nearest\",")).contains("'input.resize'"));
        assertTrue(expectError(CLASSIFIER.substring(0, 40)).contains("invalid JSON"));
    }

    @Test
    public void resizeIsReadFromTheContract() {
        String withResize = CLASSIFIER.replace("\"dtype\": \"uint8\",",
                "\"dtype\": \"uint8\", \"resize\": {\"algorithm\": \"bilinear\", "
                        + "\"half_pixel_centers\": true, \"antialias\": ANTIALIAS},");
        assertEquals(Contract.RESIZE_BILINEAR,
                Contract.parse(withResize.replace("ANTIALIAS", "false"), "m.json").resize);
        assertEquals(Contract.RESIZE_BILINEAR_ANTIALIAS,
                Contract.parse(withResize.replace("ANTIALIAS", "true"), "m.json").resize);
        assertTrue(expectError(withResize.replace(", \"antialias\": ANTIALIAS", ""))
                .contains("'input.resize.antialias' is missing"));
        assertTrue(expectError(withResize.replace("true, \"antialias\"", "false, \"antialias\"")
                .replace("ANTIALIAS", "true")).contains("'input.resize.half_pixel_centers'"));
    }

    @Test
    public void superResolutionScaleFromFieldOrShapes() {
        String sr = "{\"task\": \"super_resolution\", \"input_range\": [0, 255],"
                + " \"input\": {\"shape\": [1, -1, -1, 3], \"dtype\": \"int8\","
                + "  \"quantization\": {\"scale\": 1.0, \"zero_point\": -128}},"
                + " \"outputs\": [{\"shape\": [1, -1, -1, 3], \"dtype\": \"int8\","
                + "  \"quantization\": {\"scale\": 1.0, \"zero_point\": -128}}]SCALE}";
        assertEquals(3, Contract.parse(sr.replace("SCALE", ", \"scale\": 3"), "sr.json").scale);
        assertTrue(expectError(sr.replace("SCALE", "")).contains("'scale' is missing"));
        String fixed = sr.replace("[1, -1, -1, 3], \"dtype\": \"int8\",\n", "")
                .replaceFirst("\\[1, -1, -1, 3\\]", "[1, 8, 8, 3]")
                .replaceFirst("\\[1, -1, -1, 3\\]", "[1, 32, 32, 3]");
        assertEquals(4, Contract.parse(fixed.replace("SCALE", ""), "sr.json").scale);
        assertTrue(expectError(fixed.replace("SCALE", ", \"scale\": 2")).contains("the shapes say 4"));
    }

    @Test
    @SuppressWarnings("unchecked")
    public void jsonReaderHandlesEscapesNumbersAndNesting() {
        Map<String, Object> m = (Map<String, Object>) Json.parse(
                "{\"a\": [1, -2.5e-3, true, null], \"b\": \"x\\\"y\\u00e9\\n\", \"c\": {}}");
        List<Object> a = (List<Object>) m.get("a");
        assertEquals(1.0, (Double) a.get(0), 0.0);
        assertEquals(-0.0025, (Double) a.get(1), 0.0);
        assertEquals(Boolean.TRUE, a.get(2));
        assertEquals(null, a.get(3));
        assertEquals("x\"y\u00e9\n", m.get("b"));
        assertTrue(((Map<String, Object>) m.get("c")).isEmpty());
        for (String bad : new String[] {"{\"a\": 1,}", "[1 2]", "{\"a\" 1}", "\"open", "NaN", "{} x"}) {
            try {
                Json.parse(bad);
                fail("accepted " + bad);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage().startsWith("invalid JSON at offset"));
            }
        }
    }

    private static final String DETECTOR = "{\"task\": \"detection\","
            + " \"input\": {\"shape\": [1, 8, 8, 3], \"dtype\": \"uint8\","
            + "  \"quantization\": {\"scale\": 1.0, \"zero_point\": 0},"
            + "  \"normalization\": {\"mean\": 0, \"std\": 1},"
            + "  \"resize\": {\"algorithm\": \"bilinear\", \"antialias\": true, \"fit\": \"letterbox\", \"pad_value\": 114}},"
            + " \"outputs\": [{\"shape\": [1, 5, 4], \"dtype\": \"float32\"}, {\"shape\": [1, 5], \"dtype\": \"float32\"},"
            + "  {\"shape\": [1, 5], \"dtype\": \"float32\"}, {\"shape\": [1], \"dtype\": \"float32\"}],"
            + " \"labels\": [\"a\", \"b\"]}";

    private static final String RESTORER = "{\"task\": \"restoration\", \"scale\": 1,"
            + " \"input\": {\"shape\": [1, -1, -1, 3], \"dtype\": \"uint8\","
            + "  \"quantization\": {\"scale\": 1.0, \"zero_point\": 0}, \"normalization\": {\"mean\": 0, \"std\": 1}},"
            + " \"outputs\": [{\"shape\": [1, -1, -1, 3], \"dtype\": \"uint8\","
            + "  \"quantization\": {\"scale\": 1.0, \"zero_point\": 0}}],"
            + " \"tiling\": {\"tile\": 64, \"overlap\": 8}}";

    @Test
    public void readsDetectionAndRestorationContracts() {
        Contract d = Contract.parse(DETECTOR, "model.json");
        assertEquals(Contract.Task.DETECTION, d.task);
        assertEquals(4, d.outputs.size());
        assertEquals(Contract.FIT_LETTERBOX, d.fit);
        assertEquals(114f, d.padValue, 0f);
        assertEquals(List.of("a", "b"), d.labels);
        Contract r = Contract.parse(RESTORER, "model.json");
        assertEquals(Contract.Task.RESTORATION, r.task);
        assertEquals(1, r.scale);
        assertEquals(64, r.tile);
        assertEquals(8, r.overlap);
        Contract defaults = Contract.parse(RESTORER.replace(", \"tiling\": {\"tile\": 64, \"overlap\": 8}", ""), "m.json");
        assertEquals(Contract.DEFAULT_TILE, defaults.tile);
        assertEquals(Contract.DEFAULT_RESTORATION_OVERLAP, defaults.overlap);
        // a letterboxed 4 x 8 photo in the 8 x 8 input: rows 2..5 hold it, the rest is padding
        FloatImage photo = new FloatImage(4, 8, 3);
        java.util.Arrays.fill(photo.data, 7f);
        FloatImage x = Preprocess.resizeForModel(d, photo);
        assertEquals(114f, x.get(0, 3, 0), 0f);
        assertEquals(114f, x.get(1, 3, 0), 0f);
        assertEquals(7f, x.get(2, 3, 0), 0f);
        assertEquals(7f, x.get(5, 3, 0), 0f);
        assertEquals(114f, x.get(6, 3, 0), 0f);
    }

    @Test
    public void inconsistentDetectionAndRestorationFieldsAreRefused() {
        assertTrue(expectError(DETECTOR.replace("{\"shape\": [1], \"dtype\"", "{\"shape\": [1, 1], \"dtype\""))
                .contains("'outputs[3].shape' is [1, 1]; expected count [1]"));
        assertTrue(expectError(DETECTOR.replace("[1, 5, 4]", "[1, 5, 5]")).contains("'outputs[0].shape'"));
        assertTrue(expectError(DETECTOR.replace("[\"a\", \"b\"]", "[]")).contains("'labels' is empty"));
        assertTrue(expectError(DETECTOR.replace("\"letterbox\"", "\"crop\"")).contains("'input.resize.fit' is 'crop'"));
        assertTrue(expectError(DETECTOR.replace("114", "300")).contains("'input.resize.pad_value'"));
        assertTrue(expectError(CLASSIFIER.replace("classification", "segmentation")
                .replace("[1, 3]", "[1, 4, 6, 3]")
                .replace("\"std\": 2}}", "\"std\": 2}, \"resize\": {\"algorithm\": \"bilinear\", \"antialias\": true, \"fit\": \"letterbox\"}}"))
                .contains("not segmentation"));
        assertTrue(expectError(RESTORER.replace("\"scale\": 1,", "\"scale\": 2,")).contains("'scale' is 2"));
        assertTrue(expectError(RESTORER.replace("[1, -1, -1, 3], \"dtype\": \"uint8\",\n", "")
                .replace("\"outputs\": [{\"shape\": [1, -1, -1, 3]", "\"outputs\": [{\"shape\": [1, -1, -1, 1]"))
                .contains("'output.shape'"));
        assertTrue(expectError(RESTORER.replace("\"overlap\": 8", "\"overlap\": -1")).contains("'tiling'"));
    }
}
