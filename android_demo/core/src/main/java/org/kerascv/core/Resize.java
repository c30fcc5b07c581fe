package org.kerascv.core;

/**
 * The two resizes of the Python side, computed the same way in float32:
 * <ul>
 * <li>{@link #bilinearAntialias}: {@code tf.image.resize(image, size, antialias=True)} (bilinear),
 * i.e. TensorFlow's {@code ScaleAndTranslate} with the triangle kernel: half-pixel centres, the
 * kernel widened by the shrink factor when downsampling (a low-pass filter), weights normalised
 * over the pixels inside the image, rows resized first and columns second.</li>
 * <li>{@link #bilinear}: {@code tf.image.resize(image, size, antialias=False)}, TensorFlow's
 * {@code ResizeBilinear} with half-pixel centres: the four nearest input pixels, no low-pass
 * filter when shrinking (what TF Serving's bytes signature and MediaPipe-style pipelines do).</li>
 * <li>{@link #nearest}: {@code tf.image.resize(mask, size, method="nearest")} for class masks
 * (half-pixel centres, {@code floor}), the only way masks are ever resized.</li>
 * </ul>
 */
public final class Resize {
    private Resize() {
    }

    /** Sampling spans of one axis: output i reads {@code size} inputs from {@code starts[i]}. */
    static final class Spans {
        final int size;
        final int[] starts;
        final float[] weights;

        Spans(int size, int[] starts, float[] weights) {
            this.size = size;
            this.starts = starts;
            this.weights = weights;
        }
    }

    /** A separable sampling kernel of TF's ScaleAndTranslate. */
    interface Kernel {
        float radius();

        float weight(float x);
    }

    static final Kernel TRIANGLE = new Kernel() {
        public float radius() {
            return 1.0f;
        }

        public float weight(float x) {
            x = Math.abs(x);
            return x < 1.0f ? 1.0f - x : 0.0f;
        }
    };

    /** Keys' cubic convolution kernel (a = -0.5), TF's "keyscubic". */
    static final Kernel KEYS_CUBIC = new Kernel() {
        public float radius() {
            return 2.0f;
        }

        public float weight(float x) {
            x = Math.abs(x);
            if (x >= 2.0f) {
                return 0.0f;
            } else if (x >= 1.0f) {
                return ((-0.5f * x + 2.5f) * x - 4.0f) * x + 2.0f;
            }
            return ((1.5f * x - 2.5f) * x) * x + 1.0f;
        }
    };

    static Spans triangleSpans(int outputSize, int inputSize) {
        return spans(TRIANGLE, outputSize, inputSize);
    }

    static Spans spans(Kernel kernel, int outputSize, int inputSize) {
        // tf: scale = float(out) / float(in) in float32; inv_scale = float(1.0 / double(scale))
        float scale = (float) outputSize / (float) inputSize;
        float invScale = (float) (1.0 / (double) scale);
        float kernelScale = Math.max(invScale, 1.0f);
        float radius = kernel.radius();
        int spanSize = Math.min(2 * (int) Math.ceil(radius * kernelScale) + 1, inputSize);
        int[] starts = new int[outputSize];
        float[] weights = new float[spanSize * outputSize];
        float oneOverKernelScale = 1.0f / kernelScale;
        float[] temp = new float[spanSize + 2];
        for (int x = 0; x < outputSize; x++) {
            float colF = x + 0.5f;
            float sampleF = colF * invScale + (-invScale * 0.0f);
            if (sampleF < 0 || sampleF > inputSize) {
                starts[x] = 0;
                continue;
            }
            long spanStart = (long) Math.ceil(sampleF - radius * kernelScale - 0.5f);
            long spanEnd = (long) Math.floor(sampleF + radius * kernelScale - 0.5f);
            spanStart = Math.min(Math.max(spanStart, 0), inputSize - 1);
            spanEnd = Math.min(Math.max(spanEnd, 0), inputSize - 1) + 1;
            int n = (int) (spanEnd - spanStart);
            if (n > spanSize) {
                throw new IllegalStateException("span too large: " + n + " vs " + spanSize);
            }
            float total = 0.0f;
            for (int i = 0; i < n; i++) {
                float kernelPos = (float) (spanStart + i) + 0.5f - sampleF;
                float w = kernel.weight(Math.abs(kernelPos * oneOverKernelScale));
                total += w;
                temp[i] = w;
            }
            if (Math.abs(total) >= 1000.0f * Float.MIN_NORMAL) {
                float inv = 1.0f / total;
                for (int i = 0; i < n; i++) {
                    weights[spanSize * x + i] = temp[i] * inv;
                }
            }
            starts[x] = (int) spanStart;
        }
        return new Spans(spanSize, starts, weights);
    }

    /** {@code tf.image.resize(image, (outHeight, outWidth), antialias=True)}, float32 result. */
    public static FloatImage bilinearAntialias(FloatImage image, int outHeight, int outWidth) {
        return scaleAndTranslate(TRIANGLE, image, outHeight, outWidth);
    }

    /**
     * {@code tf.image.resize(image, size, method="bicubic", antialias=True)}: Keys' cubic through
     * the same span machinery (for upscaling, the SR screen's bicubic reference panel).
     */
    public static FloatImage bicubicAntialias(FloatImage image, int outHeight, int outWidth) {
        return scaleAndTranslate(KEYS_CUBIC, image, outHeight, outWidth);
    }

    static FloatImage scaleAndTranslate(Kernel kernel, FloatImage image, int outHeight, int outWidth) {
        if (outHeight <= 0 || outWidth <= 0) {
            throw new IllegalArgumentException("resize target must be positive, got " + outHeight + "x" + outWidth);
        }
        int c = image.channels;
        int inW = image.width;
        Spans rows = spans(kernel, outHeight, image.height);
        Spans cols = spans(kernel, outWidth, inW);
        // rows first: (outHeight, inWidth, c)
        int rowLen = inW * c;
        float[] mid = new float[outHeight * rowLen];
        for (int y = 0; y < outHeight; y++) {
            int start = rows.starts[y];
            int real = Math.min(start + rows.size, image.height) - start;
            int outOff = y * rowLen;
            for (int k = 0; k < real; k++) {
                float w = rows.weights[y * rows.size + k];
                int inOff = (start + k) * rowLen;
                for (int i = 0; i < rowLen; i++) {
                    mid[outOff + i] += w * image.data[inOff + i];
                }
            }
        }
        FloatImage out = new FloatImage(outHeight, outWidth, c);
        for (int y = 0; y < outHeight; y++) {
            int rowOff = y * rowLen;
            for (int x = 0; x < outWidth; x++) {
                int start = cols.starts[x];
                int real = Math.min(start + cols.size, inW) - start;
                int o = (y * outWidth + x) * c;
                for (int k = 0; k < real; k++) {
                    float w = cols.weights[x * cols.size + k];
                    int in = rowOff + (start + k) * c;
                    for (int ch = 0; ch < c; ch++) {
                        out.data[o + ch] += w * mid[in + ch];
                    }
                }
            }
        }
        return out;
    }

    /** {@code tf.image.resize(image, (outHeight, outWidth), antialias=False)}, float32 result. */
    public static FloatImage bilinear(FloatImage image, int outHeight, int outWidth) {
        if (outHeight <= 0 || outWidth <= 0) {
            throw new IllegalArgumentException("resize target must be positive, got " + outHeight + "x" + outWidth);
        }
        int c = image.channels;
        int[][] ys = lerpIndices(outHeight, image.height);
        float[] yl = lerpWeights(outHeight, image.height);
        int[][] xs = lerpIndices(outWidth, image.width);
        float[] xl = lerpWeights(outWidth, image.width);
        FloatImage out = new FloatImage(outHeight, outWidth, c);
        float[] in = image.data;
        for (int y = 0; y < outHeight; y++) {
            int top = ys[0][y] * image.width;
            int bottom = ys[1][y] * image.width;
            for (int x = 0; x < outWidth; x++) {
                int l = xs[0][x];
                int r = xs[1][x];
                for (int ch = 0; ch < c; ch++) {
                    float tl = in[(top + l) * c + ch];
                    float tr = in[(top + r) * c + ch];
                    float bl = in[(bottom + l) * c + ch];
                    float br = in[(bottom + r) * c + ch];
                    float t = tl + (tr - tl) * xl[x];
                    float b = bl + (br - bl) * xl[x];
                    out.data[(y * outWidth + x) * c + ch] = t + (b - t) * yl[y];
                }
            }
        }
        return out;
    }

    private static float halfPixelSource(int i, int outSize, int inSize) {
        float scale = (float) inSize / (float) outSize;
        return ((float) i + 0.5f) * scale - 0.5f;
    }

    private static int[][] lerpIndices(int outSize, int inSize) {
        int[][] idx = new int[2][outSize];
        for (int i = 0; i < outSize; i++) {
            float src = halfPixelSource(i, outSize, inSize);
            idx[0][i] = (int) Math.max((long) Math.floor(src), 0L);
            idx[1][i] = (int) Math.min((long) Math.ceil(src), (long) inSize - 1);
        }
        return idx;
    }

    private static float[] lerpWeights(int outSize, int inSize) {
        float[] w = new float[outSize];
        for (int i = 0; i < outSize; i++) {
            float src = halfPixelSource(i, outSize, inSize);
            w[i] = src - (float) Math.floor(src);
        }
        return w;
    }

    /** {@code tf.image.resize(mask[..., None], (outHeight, outWidth), method="nearest")}. */
    public static int[] nearest(int[] mask, int height, int width, int outHeight, int outWidth) {
        if (mask.length != height * width) {
            throw new IllegalArgumentException("mask has " + mask.length + " values, expected " + height + "x" + width);
        }
        float sy = (float) height / (float) outHeight;
        float sx = (float) width / (float) outWidth;
        int[] xs = new int[outWidth];
        for (int x = 0; x < outWidth; x++) {
            xs[x] = Math.max(0, Math.min((int) Math.floor((x + 0.5f) * sx), width - 1));
        }
        int[] out = new int[outHeight * outWidth];
        for (int y = 0; y < outHeight; y++) {
            int iy = Math.max(0, Math.min((int) Math.floor((y + 0.5f) * sy), height - 1));
            for (int x = 0; x < outWidth; x++) {
                out[y * outWidth + x] = mask[iy * width + xs[x]];
            }
        }
        return out;
    }
}
