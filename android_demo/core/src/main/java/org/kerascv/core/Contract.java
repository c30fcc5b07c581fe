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
 * optional {@code meaning}; {@code labels} (classification, segmentation); {@code scale}
 * (super-resolution; else derived from static input/output sizes).
 */
public final class Contract {
    public enum Task { CLASSIFICATION, SEGMENTATION, SUPER_RESOLUTION }

    /** {@code tf.image.resize(..., antialias=True)}: bilinear, half-pixel centres, low-pass when shrinking. */
    public static final String RESIZE_BILINEAR_ANTIALIAS = "bilinear_antialias";
    /** {@code tf.image.resize(..., antialias=False)}: bilinear, half-pixel centres. */
    public static final String RESIZE_BILINEAR = "bilinear";

    public final String source;
    public final Task task;
    public final TensorSpec input;
    public final TensorSpec output;
    /** Per channel (length = input channels): model input = (pixel - mean) / std. */
    public final float[] mean;
    public final float[] std;
    public final String resize;
    /** What the output holds ("probabilities", "logits", "pixels", ...), or null if not stated. */
    public final String outputMeaning;
    public final List<String> labels;
    /** Super-resolution upscaling factor, 0 for the other tasks. */
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
            default:
                throw fail("task", "is '" + taskName
                        + "'; expected classification, segmentation or super_resolution");
        }
        Map<String, Object> in = obj(root, "input", "input");
        input = tensor(in, "input");
        Map<String, Object> out;
        if (root.containsKey("output") && root.get("output") != null) {
            out = obj(root, "output", "output");
            outputMeaning = root.containsKey("output") && out.get("meaning") instanceof String
                    ? (String) out.get("meaning") : null;
            output = tensor(out, "output");
        } else if (root.get("outputs") instanceof List && !((List<?>) root.get("outputs")).isEmpty()) {
            Object first = ((List<?>) root.get("outputs")).get(0);
            if (!(first instanceof Map)) {
                throw fail("outputs[0]", "is not an object");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> o = (Map<String, Object>) first;
            out = o;
            outputMeaning = out.get("meaning") instanceof String ? (String) out.get("meaning") : null;
            output = tensor(out, "outputs[0]");
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
        resize = resizeMethod(in.get("resize"));
        labels = labels(root);
        scale = checkShapes(root);
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

    private List<String> labels(Map<String, Object> root) {
        if (task == Task.SUPER_RESOLUTION) {
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
