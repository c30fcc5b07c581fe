package org.kerascv.core;

/**
 * Where a photo ({@code height x width}) lies in the model's fixed input: rows {@code top ..
 * top + contentHeight}, columns {@code left .. left + contentWidth} (the contract's
 * {@code input.resize.fit}), and the way back from input ratios to photo pixels. The same
 * arithmetic as {@code kerascv_apps.inference.letterbox} (doubles there and here):
 *
 * <ul>
 *   <li>stretch: the photo fills the input; {@code y} ratio = {@code y * height} pixels;</li>
 *   <li>letterbox: scale {@code s = min(H / height, W / width)}, content
 *       {@code floor(height * s + 0.5)} x {@code floor(width * s + 0.5)} (at least 1), centred
 *       ({@code top = (H - contentHeight) / 2}, floor); {@code y} ratio =
 *       {@code (y * H - top) * height / contentHeight} pixels.</li>
 * </ul>
 * Pixels are clipped to the photo.
 */
public final class Fit {
    public final int height;
    public final int width;
    public final int inputHeight;
    public final int inputWidth;
    public final int contentHeight;
    public final int contentWidth;
    public final int top;
    public final int left;

    private Fit(int height, int width, int inputHeight, int inputWidth, int contentHeight,
                int contentWidth, int top, int left) {
        this.height = height;
        this.width = width;
        this.inputHeight = inputHeight;
        this.inputWidth = inputWidth;
        this.contentHeight = contentHeight;
        this.contentWidth = contentWidth;
        this.top = top;
        this.left = left;
    }

    /** The fit of a {@code height x width} photo in an {@code inputHeight x inputWidth} input. */
    public static Fit of(String fit, int height, int width, int inputHeight, int inputWidth) {
        if (height < 1 || width < 1 || inputHeight < 1 || inputWidth < 1) {
            throw new IllegalArgumentException("sizes must be positive, got photo " + height + "x" + width
                    + ", input " + inputHeight + "x" + inputWidth);
        }
        if (Contract.FIT_STRETCH.equals(fit)) {
            return new Fit(height, width, inputHeight, inputWidth, inputHeight, inputWidth, 0, 0);
        }
        if (!Contract.FIT_LETTERBOX.equals(fit)) {
            throw new IllegalArgumentException("fit must be stretch or letterbox, got " + fit);
        }
        double s = Math.min((double) inputHeight / height, (double) inputWidth / width);
        int nh = Math.min(inputHeight, Math.max(1, (int) Math.floor(height * s + 0.5)));
        int nw = Math.min(inputWidth, Math.max(1, (int) Math.floor(width * s + 0.5)));
        return new Fit(height, width, inputHeight, inputWidth, nh, nw, (inputHeight - nh) / 2,
                (inputWidth - nw) / 2);
    }

    /** A row ratio of the model input to a photo row (pixels, clipped to the photo). */
    public double rowToPixels(double y) {
        double v = (y * inputHeight - top) * height / contentHeight;
        return Math.max(0.0, Math.min(height, v));
    }

    /** A column ratio of the model input to a photo column (pixels, clipped to the photo). */
    public double colToPixels(double x) {
        double v = (x * inputWidth - left) * width / contentWidth;
        return Math.max(0.0, Math.min(width, v));
    }

    @Override
    public String toString() {
        return "Fit[photo " + height + "x" + width + " -> " + contentHeight + "x" + contentWidth + " at (" + top
                + ", " + left + ") of " + inputHeight + "x" + inputWidth + "]";
    }
}
