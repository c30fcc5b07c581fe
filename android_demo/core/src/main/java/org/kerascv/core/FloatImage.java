package org.kerascv.core;

/** An (height, width, channels) image of float pixel values in row-major HWC order. */
public final class FloatImage {
    public final int height;
    public final int width;
    public final int channels;
    public final float[] data;

    public FloatImage(int height, int width, int channels) {
        this(height, width, channels, new float[height * width * channels]);
    }

    public FloatImage(int height, int width, int channels, float[] data) {
        if (height <= 0 || width <= 0 || channels <= 0) {
            throw new IllegalArgumentException("image size must be positive, got "
                    + height + "x" + width + "x" + channels);
        }
        if (data.length != height * width * channels) {
            throw new IllegalArgumentException("image data has " + data.length + " values, expected "
                    + height + "x" + width + "x" + channels);
        }
        this.height = height;
        this.width = width;
        this.channels = channels;
        this.data = data;
    }

    /**
     * Packed ARGB pixels (Android's {@code Bitmap.getPixels}, AWT's {@code getRGB}) to an image
     * with 3 (RGB) or 1 channel. Grey uses Pillow's {@code convert("L")} integer formula, the
     * conversion the Python reader applies to colour files for 1-channel models.
     */
    public static FloatImage fromArgb(int[] argb, int height, int width, int channels) {
        if (argb.length != height * width) {
            throw new IllegalArgumentException("pixel array has " + argb.length + " pixels, expected "
                    + height + "x" + width);
        }
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
        }
        FloatImage img = new FloatImage(height, width, channels);
        for (int i = 0; i < argb.length; i++) {
            int r = (argb[i] >> 16) & 0xff;
            int g = (argb[i] >> 8) & 0xff;
            int b = argb[i] & 0xff;
            if (channels == 3) {
                img.data[3 * i] = r;
                img.data[3 * i + 1] = g;
                img.data[3 * i + 2] = b;
            } else {
                img.data[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
            }
        }
        return img;
    }

    /** Crop of rows [y0, y1) and columns [x0, x1). */
    public FloatImage crop(int y0, int x0, int y1, int x1) {
        if (y0 < 0 || x0 < 0 || y1 > height || x1 > width || y0 >= y1 || x0 >= x1) {
            throw new IllegalArgumentException("crop [" + y0 + ":" + y1 + ", " + x0 + ":" + x1
                    + "] outside a " + height + "x" + width + " image");
        }
        FloatImage out = new FloatImage(y1 - y0, x1 - x0, channels);
        int row = out.width * channels;
        for (int y = y0; y < y1; y++) {
            System.arraycopy(data, (y * width + x0) * channels, out.data, (y - y0) * row, row);
        }
        return out;
    }

    public float get(int y, int x, int c) {
        return data[(y * width + x) * channels + c];
    }
}
