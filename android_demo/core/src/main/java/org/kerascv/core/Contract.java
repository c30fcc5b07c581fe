package org.kerascv.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The exported model's contract (the JSON file written beside each .tflite): which task, how to
 * build the input tensor from pixels, how to read the output. Everything model-specific the app
 * knows comes from here; {@link #parse} refuses a contract with a missing or inconsistent field
 * and names the file and the field.
 *
 * <p>Fields read (dotted paths): {@code task}; {@code input.shape} (NHWC, -1 = dynamic),
 * {@code input.dtype} (int8/uint8/float32), {@code input.quantization.scale/zero_point} (integer
 * dtypes); {@code input.normalization.mean/std} (model input = (pixel - mean) / std) or, when
 * absent, {@code input_range [lo, hi]} (pixels 0..255 mapped linearly onto it); optional
 * {@code input.resize} (default: bilinear with antialiasing, half-pixel centres, the Python
 * prediction path); {@code output} or {@code outputs[0]} with the same fields as the input and an
 * optional {@code meaning}; {@code labels} (classification, segmentation, detection);
 * {@code scale} (super-resolution; else derived from static input/output sizes; 1 for
 * restoration); {@code input.resize.fit} ("stretch", default, or "letterbox" with
 * {@code pad_value}); {@code tiling.tile/overlap} (image-to-image tasks, optional); detection:
 * the four {@code outputs} of TFLite_Detection_PostProcess (boxes [1, N, 4], classes [1, N],
 * scores [1, N], count [1]).
 */
public final class Contract {
    public enum Task { CLASSIFICATION, SEGMENTATION, SUPER_RESOLUTION, RESTORATION, DETECTION }

    /** The image is resized to the input size, aspect ratio not kept (the exporter's default). */
    public static final String FIT_STRETCH = "stretch";
    /** Scaled to fit, centred, the rest padded with {@code padValue} (see {@link Fit}). */
    public static final String FIT_LETTERBOX = "letterbox";
    /** Tiling defaults of the Python tiled predictors (SR: 128 / 16; restoration: 128 / 24). */
    public static final int DEFAULT_TILE = 128;
    public static final int DEFAULT_SR_OVERLAP = 16;
    public static final int DEFAULT_RESTORATION_OVERLAP = 24;

    /** {@code tf.image.resize(..., antialias=True)}: bilinear, half-pixel centres, low-pass when shrinking. */
    public static final String RESIZE_BILINEAR_ANTIALIAS = "bilinear_antialias";
    /** {@code tf.image.resize(..., antialias=False)}: bilinear, half-pixel centres. */
    public static final String RESIZE_BILINEAR = "bilinear";

    public final String source;
    public final Task task;
    public final TensorSpec input;
    public final TensorSpec output;
    /** Every output in the file's order ({@code output} is the first). */
    public final List<TensorSpec> outputs;
    /** {@link #FIT_STRETCH} or {@link #FIT_LETTERBOX}. */
    public final String fit;
    /** Letterbox padding, in pixel values (before normalization). */
    public final float padValue;
    /** Image-to-image tiling: core size and context in input pixels (0 for other tasks). */
    public final int tile;
    public final int overlap;
    /** Per channel (length = input channels): model input = (pixel - mean) / std. */
    public final float[] mean;
    public final float[] std;
    public final String resize;
    /** What the output holds ("probabilities", "logits", "pixels", ...), or null if not stated. */
    public final String outputMeaning;
    public final List<String> labels;
    /** Output pixels per input pixel: the SR upscaling factor, 1 for restoration, 0 otherwise. */
    public final int scale;
    /** Raw contract (for fields the core does not interpret, e.g. tiling hints). */
    public final Map<String, Object> raw;

    private Contract(String source, Map<String, Object> root) {
        this.source = source;
        this.raw = Collections.unmodifiableMap(root);
        String taskName = str(root, "task", "task");
        switch (taskName) {
            case "classification": task = Task.CLASSIFICATION; break;
            case "segmentation": task = Task.SEGMENTATION; break;
            case "super_resolution": task = Task.SUPER_RESOLUTION; break;
            case "restoration": task = Task.RESTORATION; break;
            case "detection": task = Task.DETECTION; break;
            default:
                throw fail("task", "is '" + taskName + "'; expected classification, segmentation, "
                        + "super_resolution, restoration or detection");
        }
        Map<String, Object> in = obj(root, "input", "input");
        input = tensor(in, "input");
        Map<String, Object> out;
        List<TensorSpec> all = new ArrayList<>();
        if (root.containsKey("output") && root.get("output") != null) {
            out = obj(root, "output", "output");
            outputMeaning = root.containsKey("output") && out.get("meaning") instanceof String
                    ? (String) out.get("meaning") : null;
            output = tensor(out, "output");
            all.add(output);
        } else if (root.get("outputs") instanceof List && !((List<?>) root.get("outputs")).isEmpty()) {
            List<?> list = (List<?>) root.get("outputs");
            for (int i = 0; i < list.size(); i++) {
                if (!(list.get(i) instanceof Map)) {
                    throw fail("outputs[" + i + "]", "is not an object");
                }
                @SuppressWarnings("unchecked")
                Map<String, Object> o = (Map<String, Object>) list.get(i);
                all.add(tensor(o, "outputs[" + i + "]"));
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> o = (Map<String, Object>) list.get(0);
            out = o;
            outputMeaning = out.get("meaning") instanceof String ? (String) out.get("meaning") : null;
            output = all.get(0);
        } else {
            throw fail("output", "is missing (neither 'output' nor a non-empty 'outputs' list)");
        }
        int channels = input.dim(-1);
        if (input.shape.length != 4 || (channels != 1 && channels != 3)) {
            throw fail("input.shape", "is " + java.util.Arrays.toString(input.shape)
                    + "; expected NHWC [1, height, width, 1 or 3]");
        }
        float[][] norm = normalization(root, in, channels);
        mean = norm[0];
        std = norm[1];
        outputs = Collections.unmodifiableList(all);
        resize = resizeMethod(in.get("resize"));
        Object resizeField = in.get("resize");
        Map<?, ?> resizeMap = resizeField instanceof Map ? (Map<?, ?>) resizeField : Collections.emptyMap();
        fit = fitOf(resizeMap);
        padValue = padValueOf(resizeMap);
        labels = labels(root);
        scale = checkShapes(root);
        int[] tiling = tiling(root);
        tile = tiling[0];
        overlap = tiling[1];
    }

    /** Parses contract JSON text; {@code source} (a file name) prefixes every error message. */
    public static Contract parse(String json, String source) {
        Object root;
        try {
            root = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw new ContractException(source + ": " + e.getMessage());
        }
        if (!(root instanceof Map)) {
            throw new ContractException(source + ": the contract must be a JSON object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> map = (Map<String, Object>) root;
        return new Contract(source, map);
    }

    public int inputHeight() {
        return input.dim(1);
    }

    public int inputWidth() {
        return input.dim(2);
    }

    public int inputChannels() {
        return input.dim(3);
    }

    /** True when the model takes any image size (no resize before it). */
    public boolean dynamicSize() {
        return inputHeight() <= 0 || inputWidth() <= 0;
    }

    // ---- field readers -------------------------------------------------------------------

    private ContractException fail(String field, String what) {
        return new ContractException(source + ": field '" + field + "' " + what);
    }

    private Object need(Map<String, Object> m, String key, String path) {
        if (!m.containsKey(key) || m.get(key) == null) {
            throw fail(path, "is missing");
        }
        return m.get(key);
    }

    private String str(Map<String, Object> m, String key, String path) {
        Object v = need(m, key, path);
        if (!(v instanceof String)) {
            throw fail(path, "must be a string, got " + v);
        }
        return (String) v;
    }

    private double num(Map<String, Object> m, String key, String path) {
        Object v = need(m, key, path);
        if (!(v instanceof Double)) {
            throw fail(path, "must be a number, got " + v);
        }
        return (Double) v;
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> obj(Map<String, Object> m, String key, String path) {
        Object v = need(m, key, path);
        if (!(v instanceof Map)) {
            throw fail(path, "must be an object, got " + v);
        }
        return (Map<String, Object>) v;
    }

    private List<?> list(Map<String, Object> m, String key, String path) {
        Object v = need(m, key, path);
        if (!(v instanceof List)) {
            throw fail(path, "must be a list, got " + v);
        }
        return (List<?>) v;
    }

    private static int asInt(Object v) {
        if (!(v instanceof Double) || (Double) v != Math.rint((Double) v)) {
            throw new IllegalArgumentException(String.valueOf(v));
        }
        return (int) (double) (Double) v;
    }

    private TensorSpec tensor(Map<String, Object> m, String path) {
        List<?> shapeList = list(m, "shape", path + ".shape");
        int[] shape = new int[shapeList.size()];
        for (int i = 0; i < shape.length; i++) {
            try {
                shape[i] = asInt(shapeList.get(i));
            } catch (IllegalArgumentException e) {
                throw fail(path + ".shape", "has a non-integer entry " + shapeList.get(i));
            }
            if (shape[i] == 0 || shape[i] < -1) {
                throw fail(path + ".shape", "has size " + shape[i] + " (expected > 0, or -1 for dynamic)");
            }
        }
        String dtype = str(m, "dtype", path + ".dtype");
        if (!dtype.equals("int8") && !dtype.equals("uint8") && !dtype.equals("float32")) {
            throw fail(path + ".dtype", "is '" + dtype + "'; expected int8, uint8 or float32");
        }
        float scale = 0f;
        int zero = 0;
        String name = m.get("name") instanceof String ? (String) m.get("name") : path;
        if (!dtype.equals("float32")) {
            Map<String, Object> q = obj(m, "quantization", path + ".quantization");
            double s = num(q, "scale", path + ".quantization.scale");
            if (!(s > 0) || Double.isInfinite(s)) {
                throw fail(path + ".quantization.scale", "is " + s + "; a " + dtype
                        + " tensor needs a positive scale");
            }
            try {
                zero = asInt(need(q, "zero_point", path + ".quantization.zero_point"));
            } catch (IllegalArgumentException e) {
                throw fail(path + ".quantization.zero_point", "must be an integer, got " + q.get("zero_point"));
            }
            TensorSpec probe = new TensorSpec(name, shape, dtype, 1f, 0);
            if (zero < probe.qmin() || zero > probe.qmax()) {
                throw fail(path + ".quantization.zero_point", "is " + zero + ", outside the "
                        + dtype + " range " + probe.qmin() + ".." + probe.qmax());
            }
            scale = (float) s;
        }
        return new TensorSpec(name, shape, dtype, scale, zero);
    }

    private float[][] normalization(Map<String, Object> root, Map<String, Object> in, int channels) {
        float[] m = new float[channels];
        float[] s = new float[channels];
        if (in.get("normalization") != null) {
            Map<String, Object> n = obj(in, "normalization", "input.normalization");
            fillPerChannel(m, need(n, "mean", "input.normalization.mean"), "input.normalization.mean");
            fillPerChannel(s, need(n, "std", "input.normalization.std"), "input.normalization.std");
            for (float v : s) {
                if (!(v > 0)) {
                    throw fail("input.normalization.std", "must be positive, got " + v);
                }
            }
        } else if (root.get("input_range") != null) {
            List<?> r = list(root, "input_range", "input_range");
            if (r.size() != 2 || !(r.get(0) instanceof Double) || !(r.get(1) instanceof Double)
                    || !((Double) r.get(1) > (Double) r.get(0))) {
                throw fail("input_range", "must be [low, high] with low < high, got " + r);
            }
            double lo = (Double) r.get(0);
            double hi = (Double) r.get(1);
            // pixel p in 0..255 -> lo + p * (hi - lo) / 255 == (p - mean) / std
            java.util.Arrays.fill(s, (float) (255.0 / (hi - lo)));
            java.util.Arrays.fill(m, (float) (-lo * 255.0 / (hi - lo)));
        } else {
            throw fail("input.normalization", "is missing (and there is no 'input_range' either): "
                    + "the app cannot know how pixels map onto the model's input");
        }
        return new float[][] {m, s};
    }

    private void fillPerChannel(float[] dest, Object v, String path) {
        if (v instanceof Double) {
            java.util.Arrays.fill(dest, (float) (double) (Double) v);
            return;
        }
        if (v instanceof List && ((List<?>) v).size() == dest.length) {
            for (int i = 0; i < dest.length; i++) {
                Object e = ((List<?>) v).get(i);
                if (!(e instanceof Double)) {
                    throw fail(path, "has a non-number entry " + e);
                }
                dest[i] = (float) (double) (Double) e;
            }
            return;
        }
        throw fail(path, "must be a number or a list of " + dest.length + " numbers (one per channel), got " + v);
    }

    /**
     * {@code input.resize}: a string ("bilinear_antialias", "bilinear") or an object
     * {@code {algorithm|method: "bilinear", antialias: bool, half_pixel_centers: true}}; absent
     * means the prediction path's resize (bilinear with antialiasing).
     */
    private String resizeMethod(Object v) {
        if (v == null) {
            return RESIZE_BILINEAR_ANTIALIAS;
        }
        if (v instanceof String) {
            String method = (String) v;
            if (method.equals(RESIZE_BILINEAR_ANTIALIAS) || method.equals(RESIZE_BILINEAR)) {
                return method;
            }
            throw fail("input.resize", "is '" + method + "'; this core implements '"
                    + RESIZE_BILINEAR_ANTIALIAS + "' and '" + RESIZE_BILINEAR + "'");
        }
        if (!(v instanceof Map)) {
            throw fail("input.resize", "must be a string or an object, got " + v);
        }
        Map<?, ?> m = (Map<?, ?>) v;
        Object method = m.get("algorithm") != null ? m.get("algorithm") : m.get("method");
        if (!(method instanceof String)) {
            throw fail("input.resize.algorithm", "is missing");
        }
        if (!method.equals("bilinear")) {
            throw fail("input.resize.algorithm", "is '" + method + "'; this core implements bilinear only");
        }
        if (m.get("half_pixel_centers") != null && !Boolean.TRUE.equals(m.get("half_pixel_centers"))) {
            throw fail("input.resize.half_pixel_centers", "is " + m.get("half_pixel_centers")
                    + "; this core implements half-pixel centres (TF2's tf.image.resize) only");
        }
        Object antialias = m.get("antialias");
        if (antialias == null) {
            throw fail("input.resize.antialias", "is missing: it changes every shrunk pixel");
        }
        if (!(antialias instanceof Boolean)) {
            throw fail("input.resize.antialias", "must be true or false, got " + antialias);
        }
        return (Boolean) antialias ? RESIZE_BILINEAR_ANTIALIAS : RESIZE_BILINEAR;
    }

    /** {@code input.resize.fit}: absent = stretch (what the exporter writes and Python does). */
    private String fitOf(Map<?, ?> resize) {
        Object f = resize.get("fit");
        if (f == null || FIT_STRETCH.equals(f)) {
            return FIT_STRETCH;
        }
        if (!FIT_LETTERBOX.equals(f)) {
            throw fail("input.resize.fit", "is '" + f + "'; expected '" + FIT_STRETCH + "' or '"
                    + FIT_LETTERBOX + "'");
        }
        if (task == Task.SEGMENTATION || task == Task.SUPER_RESOLUTION || task == Task.RESTORATION) {
            throw fail("input.resize.fit", "is 'letterbox'; this core maps letterboxed outputs back "
                    + "for classification and detection only, not " + task.name().toLowerCase());
        }
        return FIT_LETTERBOX;
    }

    private float padValueOf(Map<?, ?> resize) {
        Object v = resize.get("pad_value");
        if (v == null) {
            return 0f;
        }
        if (!(v instanceof Double) || (Double) v < 0 || (Double) v > 255) {
            throw fail("input.resize.pad_value", "must be a pixel value in 0..255, got " + v);
        }
        return (float) (double) (Double) v;
    }

    /** {@code tiling.{tile, overlap}} of image-to-image tasks, else the Python defaults. */
    private int[] tiling(Map<String, Object> root) {
        if (task != Task.SUPER_RESOLUTION && task != Task.RESTORATION) {
            return new int[] {0, 0};
        }
        int t = DEFAULT_TILE;
        int o = task == Task.RESTORATION ? DEFAULT_RESTORATION_OVERLAP : DEFAULT_SR_OVERLAP;
        if (root.get("tiling") != null) {
            Map<String, Object> m = obj(root, "tiling", "tiling");
            try {
                if (m.get("tile") != null) {
                    t = asInt(m.get("tile"));
                }
                if (m.get("overlap") != null) {
                    o = asInt(m.get("overlap"));
                }
            } catch (IllegalArgumentException e) {
                throw fail("tiling", "must hold integers tile and overlap, got " + m);
            }
            if (t < 1 || o < 0) {
                throw fail("tiling", "needs tile >= 1 and overlap >= 0, got " + m);
            }
        }
        return new int[] {t, o};
    }

    private List<String> labels(Map<String, Object> root) {
        if (task == Task.SUPER_RESOLUTION || task == Task.RESTORATION) {
            return Collections.emptyList();
        }
        List<?> l = list(root, "labels", "labels");
        List<String> out = new ArrayList<>();
        for (Object o : l) {
            if (!(o instanceof String)) {
                throw fail("labels", "must be a list of strings, got entry " + o);
            }
            out.add((String) o);
        }
        return Collections.unmodifiableList(out);
    }

    private int checkShapes(Map<String, Object> root) {
        String shape = java.util.Arrays.toString(output.shape);
        switch (task) {
            case CLASSIFICATION: {
                if (output.shape.length != 2) {
                    throw fail("output.shape", "is " + shape + "; a classifier outputs [1, classes]");
                }
                checkClasses(output.dim(-1));
                return 0;
            }
            case SEGMENTATION: {
                if (output.shape.length != 4) {
                    throw fail("output.shape", "is " + shape + "; a segmenter outputs [1, height, width, classes]");
                }
                checkClasses(output.dim(-1));
                return 0;
            }
            case DETECTION: {
                if (outputs.size() != 4) {
                    throw fail("outputs", "has " + outputs.size() + " tensors; a detector ending in "
                            + "TFLite_Detection_PostProcess has 4 (boxes, classes, scores, count)");
                }
                int n = outputs.get(0).shape.length == 3 ? outputs.get(0).dim(1) : -2;
                String[] names = {"boxes [1, N, 4]", "classes [1, N]", "scores [1, N]", "count [1]"};
                int[][] want = {{1, n, 4}, {1, n}, {1, n}, {1}};
                for (int i = 0; i < 4; i++) {
                    if (n < 1 || !java.util.Arrays.equals(outputs.get(i).shape, want[i])) {
                        throw fail("outputs[" + i + "].shape", "is "
                                + java.util.Arrays.toString(outputs.get(i).shape) + "; expected " + names[i]
                                + " (TFLite_Detection_PostProcess order)");
                    }
                }
                if (labels.isEmpty()) {
                    throw fail("labels", "is empty; a detector needs its class names");
                }
                return 0;
            }
            case RESTORATION: {
                if (output.shape.length != 4 || output.dim(-1) != inputChannels()) {
                    throw fail("output.shape", "is " + shape + "; a restoration model outputs [1, H, W, "
                            + inputChannels() + "] (the input's channels)");
                }
                for (int axis = 1; axis <= 2; axis++) {
                    if (input.dim(axis) > 0 && output.dim(axis) > 0 && input.dim(axis) != output.dim(axis)) {
                        throw fail("output.shape", "is " + shape + "; a restoration model keeps the input size "
                                + java.util.Arrays.toString(input.shape));
                    }
                }
                if (root.get("scale") != null && !Double.valueOf(1.0).equals(root.get("scale"))) {
                    throw fail("scale", "is " + root.get("scale") + "; restoration keeps the size (scale 1)");
                }
                return 1;
            }
            default: {
                if (output.shape.length != 4 || output.dim(-1) != inputChannels()) {
                    throw fail("output.shape", "is " + shape + "; a super-resolution model outputs [1, H, W, "
                            + inputChannels() + "] (the input's channels)");
                }
                int derived = 0;
                for (int axis = 1; axis <= 2; axis++) {
                    int i = input.dim(axis);
                    int o = output.dim(axis);
                    if (i > 0 && o > 0) {
                        if (o % i != 0 || (derived != 0 && derived != o / i)) {
                            throw fail("output.shape", "is " + shape + ", not an integer multiple of input.shape "
                                    + java.util.Arrays.toString(input.shape));
                        }
                        derived = o / i;
                    }
                }
                if (root.get("scale") != null) {
                    int s;
                    try {
                        s = asInt(root.get("scale"));
                    } catch (IllegalArgumentException e) {
                        throw fail("scale", "must be an integer, got " + root.get("scale"));
                    }
                    if (s < 2) {
                        throw fail("scale", "is " + s + "; an upscaling factor is >= 2");
                    }
                    if (derived != 0 && derived != s) {
                        throw fail("scale", "is " + s + " but the shapes say " + derived);
                    }
                    return s;
                }
                if (derived < 2) {
                    throw fail("scale", "is missing and the input/output shapes are dynamic, so the "
                            + "upscaling factor is unknown");
                }
                return derived;
            }
        }
    }

    private void checkClasses(int classes) {
        if (classes > 0 && labels.size() != classes) {
            throw fail("labels", "has " + labels.size() + " names but the output has " + classes + " classes");
        }
    }
}
