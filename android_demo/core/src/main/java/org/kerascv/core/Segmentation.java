package org.kerascv.core;

/**
 * Segmentation decoding: per-pixel argmax, the mask back at the photo's size (nearest), the
 * class palette (PASCAL VOC's, as {@code kerascv_apps.tasks.segmentation.palette}), the coloured
 * mask and the overlay of {@code save_prediction_png}.
 */
public final class Segmentation {
    /** Overlay blend of every class but 0 (background), as in the Python figure. */
    public static final double OVERLAY_ALPHA = 0.5;

    private Segmentation() {
    }

    /** (H, W) class ids from a raw [1, H, W, classes] output; ties go to the lower class id. */
    public static int[] argmax(byte[] rawOutput, TensorSpec spec, int classes) {
        return argmax(Quantization.orderable(rawOutput, spec), classes);
    }

    /**
     * (H, W) class ids from interleaved (H, W, classes) scores, e.g. MediaPipe's confidence masks
     * (its dequantized output); ties go to the lower class id.
     */
    public static int[] argmax(float[] v, int classes) {
        if (v.length % classes != 0) {
            throw new IllegalArgumentException("output of " + v.length + " values is not a multiple of "
                    + classes + " classes");
        }
        int[] mask = new int[v.length / classes];
        for (int p = 0; p < mask.length; p++) {
            int best = 0;
            float bestV = v[p * classes];
            for (int c = 1; c < classes; c++) {
                if (v[p * classes + c] > bestV) {
                    bestV = v[p * classes + c];
                    best = c;
                }
            }
            mask[p] = best;
        }
        return mask;
    }

    /** (classes, 3) RGB colours: VOC's bit-interleaved scheme, class 0 black. */
    public static int[][] palette(int classes) {
        int[][] colors = new int[Math.max(classes, 1)][3];
        for (int c = 0; c < classes; c++) {
            int label = c;
            int r = 0;
            int g = 0;
            int b = 0;
            for (int shift = 7; shift >= 0; shift--) {
                r |= (label & 1) << shift;
                g |= ((label >> 1) & 1) << shift;
                b |= ((label >> 2) & 1) << shift;
                label >>= 3;
            }
            colors[c] = new int[] {r, g, b};
        }
        return colors;
    }

    /** (H, W) ids to interleaved RGB bytes; ids outside 0..classes-1 are white. */
    public static int[] colorize(int[] mask, int classes) {
        int[][] pal = palette(classes);
        int[] rgb = new int[mask.length * 3];
        for (int i = 0; i < mask.length; i++) {
            int m = mask[i];
            boolean known = m >= 0 && m < classes;
            for (int c = 0; c < 3; c++) {
                rgb[3 * i + c] = known ? pal[m][c] : 255;
            }
        }
        return rgb;
    }

    /**
     * The photo with every non-background pixel blended with its class colour:
     * {@code uint8(pixel * (1 - a) + colour * a)} in double precision, truncated like numpy's
     * {@code astype(uint8)}. {@code image} is RGB 0..255 at the mask's size.
     */
    public static int[] overlay(FloatImage image, int[] mask, int classes, double alpha) {
        if (image.channels != 3 || image.height * image.width != mask.length) {
            throw new IllegalArgumentException("overlay needs an RGB image of the mask's size");
        }
        int[] colored = colorize(mask, classes);
        int[] out = new int[colored.length];
        for (int i = 0; i < mask.length; i++) {
            double a = mask[i] != 0 ? alpha : 0.0;
            for (int c = 0; c < 3; c++) {
                float p = Math.max(0f, Math.min(255f, image.data[3 * i + c]));
                int pixel = (int) p;  // numpy: clip then astype(uint8) truncates
                out[3 * i + c] = (int) (pixel * (1 - a) + colored[3 * i + c] * a);
            }
        }
        return out;
    }

    /** Pixels per class. */
    public static int[] classPixels(int[] mask, int classes) {
        int[] counts = new int[classes];
        for (int m : mask) {
            if (m >= 0 && m < classes) {
                counts[m]++;
            }
        }
        return counts;
    }
}
