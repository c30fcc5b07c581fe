package org.kerascv.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * One detected object and the detection decoding of a file ending in TFLite's
 * {@code TFLite_Detection_PostProcess} op (what {@code kerascv_apps.export.detection_tflite}
 * makes and MediaPipe Tasks' ObjectDetector reads): four outputs, boxes [1, N, 4] (top, left,
 * bottom, right in ratios of the model input), classes [1, N] (0-based ids, the contract's
 * {@code labels}), scores [1, N] (descending) and count [1]. Quantized outputs (uint8/int8) are
 * dequantized with their contract quantization; the exporter's files have float32 outputs.
 *
 * <p>Boxes go back to the photo's pixels through the {@link Fit} the input was made with
 * (stretch or letterbox), as {@code kerascv_apps.inference.letterbox.boxes_to_pixels}; they are
 * drawn onto ARGB pixels by {@link #draw} (outline and a label "name 0.87" in a 3x5 pixel font).
 */
public final class Detection {
    /** The Python prediction's default drawing threshold ({@code DetectionTask.draw_threshold}). */
    public static final float DEFAULT_THRESHOLD = 0.3f;

    public final int classId;
    public final String label;
    public final float score;
    /** y_min, x_min, y_max, x_max in ratios of the model input, as the op returned them. */
    public final float[] box;
    /** The box in photo pixels (clipped to the photo). */
    public final double top;
    public final double left;
    public final double bottom;
    public final double right;

    public Detection(int classId, String label, float score, float[] box, double top, double left,
                     double bottom, double right) {
        this.classId = classId;
        this.label = label;
        this.score = score;
        this.box = box.clone();
        this.top = top;
        this.left = left;
        this.bottom = bottom;
        this.right = right;
    }

    /**
     * Decodes the four raw output tensors (bytes as the interpreter holds them, the contract's
     * {@code outputs} order) into the detections with {@code score >= threshold}, in the op's
     * order (descending score), boxes in photo pixels through {@code fit}.
     */
    public static List<Detection> decode(Contract contract, byte[][] rawOutputs, Fit fit, float threshold) {
        if (contract.task != Contract.Task.DETECTION) {
            throw new IllegalArgumentException(contract.source + ": a " + contract.task.name().toLowerCase()
                    + " model, not a detector");
        }
        if (rawOutputs.length != 4) {
            throw new IllegalArgumentException("a detector has 4 outputs, got " + rawOutputs.length);
        }
        float[][] v = new float[4][];
        for (int i = 0; i < 4; i++) {
            TensorSpec spec = contract.outputs.get(i);
            int expected = 1;
            for (int d : spec.shape) {
                expected *= d;
            }
            if (rawOutputs[i].length != expected * spec.elementSize()) {
                throw new IllegalArgumentException("output " + i + " (" + spec + ") has " + rawOutputs[i].length
                        + " bytes, expected " + expected * spec.elementSize());
            }
            v[i] = Quantization.dequantize(rawOutputs[i], spec);
        }
        return decode(contract.labels, v[0], v[1], v[2], v[3][0], fit, threshold);
    }

    /** The same from dequantized outputs (e.g. a runtime that hands float arrays). */
    public static List<Detection> decode(List<String> labels, float[] boxes, float[] classes, float[] scores,
                                         float count, Fit fit, float threshold) {
        int rows = scores.length;
        if (boxes.length != 4 * rows || classes.length != rows) {
            throw new IllegalArgumentException("boxes/classes/scores of " + boxes.length + "/" + classes.length
                    + "/" + rows + " values do not describe the same " + rows + " detections");
        }
        if (!(count >= 0) || count > rows) {
            throw new IllegalArgumentException("count is " + count + "; expected 0.." + rows);
        }
        int n = (int) count;
        List<Detection> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (!(scores[i] >= threshold)) {
                continue;
            }
            int id = Math.round(classes[i]);
            String name = id >= 0 && id < labels.size() ? labels.get(id) : "class_" + id;
            float[] b = {boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]};
            out.add(new Detection(id, name, scores[i], b, fit.rowToPixels(b[0]), fit.colToPixels(b[1]),
                    fit.rowToPixels(b[2]), fit.colToPixels(b[3])));
        }
        return Collections.unmodifiableList(out);
    }

    /** "name 0.87". */
    public String caption() {
        return label + " " + String.format(Locale.ROOT, "%.2f", score);
    }

    @Override
    public String toString() {
        return caption() + String.format(Locale.ROOT, " [%.1f, %.1f, %.1f, %.1f]", top, left, bottom, right);
    }

    // ---- drawing --------------------------------------------------------------------------

    /** The opaque ARGB colour of class {@code id}: the VOC palette's colour of {@code id + 1}. */
    public static int color(int classId, int classes) {
        int[][] pal = Segmentation.palette(Math.max(classes, classId + 1) + 1);
        int[] rgb = pal[Math.max(0, classId) + 1];
        return 0xff000000 | (rgb[0] << 16) | (rgb[1] << 8) | rgb[2];
    }

    /** Outline width for a photo: 2 px, more on large photos. */
    public static int lineWidth(int width, int height) {
        return Math.max(2, Math.min(width, height) / 150);
    }

    /**
     * Draws every detection onto {@code argb} (row-major {@code width x height}, e.g. Android's
     * {@code Bitmap.getPixels}): its box outline in the class colour and its caption on a filled
     * bar of that colour above the box (inside it when the box touches the top).
     */
    public static void draw(int[] argb, int width, int height, List<Detection> detections, int classes) {
        if (argb.length != width * height) {
            throw new IllegalArgumentException("pixel array has " + argb.length + " pixels, expected "
                    + width + "x" + height);
        }
        int t = lineWidth(width, height);
        int scale = Math.max(1, Math.min(width, height) / 160);
        for (Detection d : detections) {
            int color = color(d.classId, classes);
            int x0 = clamp((int) Math.floor(d.left), 0, width - 1);
            int y0 = clamp((int) Math.floor(d.top), 0, height - 1);
            int x1 = clamp((int) Math.ceil(d.right) - 1, 0, width - 1);
            int y1 = clamp((int) Math.ceil(d.bottom) - 1, 0, height - 1);
            if (x1 < x0 || y1 < y0) {
                continue;  // an empty box
            }
            fill(argb, width, height, x0, y0, x1, Math.min(y1, y0 + t - 1), color);
            fill(argb, width, height, x0, Math.max(y0, y1 - t + 1), x1, y1, color);
            fill(argb, width, height, x0, y0, Math.min(x1, x0 + t - 1), y1, color);
            fill(argb, width, height, Math.max(x0, x1 - t + 1), y0, x1, y1, color);
            String text = d.caption();
            int barH = (Font.HEIGHT + 2) * scale;
            int barW = (text.length() * Font.ADVANCE + 1) * scale;
            int by = y0 - barH >= 0 ? y0 - barH : y0;
            fill(argb, width, height, x0, by, x0 + barW - 1, by + barH - 1, color);
            int r = (color >> 16) & 0xff;
            int g = (color >> 8) & 0xff;
            int b = color & 0xff;
            int ink = r * 299 + g * 587 + b * 114 > 128_000 ? 0xff000000 : 0xffffffff;
            Font.draw(argb, width, height, text, x0 + scale, by + scale, scale, ink);
        }
    }

    static int clamp(int v, int lo, int hi) {
        return v < lo ? lo : (v > hi ? hi : v);
    }

    /** Fills the rectangle [x0..x1] x [y0..y1] (inclusive), clipped to the image. */
    static void fill(int[] argb, int width, int height, int x0, int y0, int x1, int y1, int color) {
        for (int y = Math.max(0, y0); y <= Math.min(height - 1, y1); y++) {
            for (int x = Math.max(0, x0); x <= Math.min(width - 1, x1); x++) {
                argb[y * width + x] = color;
            }
        }
    }

    /** A 3x5 pixel font: digits, letters (lower case drawn as upper case), ". - _ : %" and space. */
    static final class Font {
        static final int HEIGHT = 5;
        static final int ADVANCE = 4;
        private static final String CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_:% ";
        /** Five rows per glyph, bit 2 = left column. */
        private static final int[][] GLYPHS = {
            {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
            {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
            {2, 5, 7, 5, 5}, {6, 5, 6, 5, 6}, {3, 4, 4, 4, 3}, {6, 5, 5, 5, 6}, {7, 4, 6, 4, 7},
            {7, 4, 6, 4, 4}, {3, 4, 5, 5, 3}, {5, 5, 7, 5, 5}, {7, 2, 2, 2, 7}, {1, 1, 1, 5, 2},
            {5, 5, 6, 5, 5}, {4, 4, 4, 4, 7}, {5, 7, 7, 5, 5}, {6, 5, 5, 5, 5}, {2, 5, 5, 5, 2},
            {6, 5, 6, 4, 4}, {2, 5, 5, 6, 3}, {6, 5, 6, 5, 5}, {3, 4, 2, 1, 6}, {7, 2, 2, 2, 2},
            {5, 5, 5, 5, 7}, {5, 5, 5, 5, 2}, {5, 5, 7, 7, 5}, {5, 5, 2, 5, 5}, {5, 5, 2, 2, 2},
            {7, 1, 2, 4, 7}, {0, 0, 0, 0, 2}, {0, 0, 7, 0, 0}, {0, 0, 0, 0, 7}, {0, 2, 0, 2, 0},
            {5, 1, 2, 4, 5}, {0, 0, 0, 0, 0},
        };
        private static final int[] UNKNOWN = {7, 1, 2, 0, 2};  // '?'

        private Font() {
        }

        static int[] glyph(char c) {
            int i = CHARS.indexOf(Character.toUpperCase(c));
            return i >= 0 ? GLYPHS[i] : UNKNOWN;
        }

        static void draw(int[] argb, int width, int height, String text, int x, int y, int scale, int color) {
            for (int k = 0; k < text.length(); k++) {
                int[] g = glyph(text.charAt(k));
                int gx = x + k * ADVANCE * scale;
                for (int row = 0; row < HEIGHT; row++) {
                    for (int col = 0; col < 3; col++) {
                        if ((g[row] >> (2 - col) & 1) != 0) {
                            fill(argb, width, height, gx + col * scale, y + row * scale,
                                    gx + (col + 1) * scale - 1, y + (row + 1) * scale - 1, color);
                        }
                    }
                }
            }
        }
    }
}
