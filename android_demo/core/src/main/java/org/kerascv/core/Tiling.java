package org.kerascv.core;

import java.util.function.BiFunction;

/**
 * The overlapping-tile predictor of {@code kerascv_apps.inference.tiling.predict_tiled}, shared by
 * every image-to-image task ({@link SuperResolution}: scale &gt;= 2; {@link Restoration}: scale 1),
 * and the output's clamping/rounding to 8-bit pixels.
 *
 * <p>Each input tile core of {@code tile} pixels is run with {@code overlap} pixels of real context
 * on every side (clamped at the image border) and only its core is pasted into the output; with an
 * overlap of at least the network's receptive-field radius the result equals whole-image
 * inference.
 */
public final class Tiling {
    private Tiling() {
    }

    /** Runs one input tile (h, w, C) and returns the dequantized output tile (h*scale, w*scale, C). */
    public interface TilePredictor {
        FloatImage predict(FloatImage tile);
    }

    public static FloatImage predictTiled(TilePredictor predictor, FloatImage image, int scale, int tile,
                                          int overlap) {
        if (tile < 1 || overlap < 0) {
            throw new IllegalArgumentException("tile must be >= 1 and overlap >= 0, got " + tile + ", " + overlap);
        }
        if (scale < 1) {
            throw new IllegalArgumentException("scale must be >= 1, got " + scale);
        }
        int h = image.height;
        int w = image.width;
        int c = image.channels;
        FloatImage out = new FloatImage(h * scale, w * scale, c);
        for (int y0 = 0; y0 < h; y0 += tile) {
            for (int x0 = 0; x0 < w; x0 += tile) {
                int y1 = Math.min(y0 + tile, h);
                int x1 = Math.min(x0 + tile, w);
                int ty0 = Math.max(0, y0 - overlap);
                int tx0 = Math.max(0, x0 - overlap);
                int ty1 = Math.min(h, y1 + overlap);
                int tx1 = Math.min(w, x1 + overlap);
                FloatImage res = predictor.predict(image.crop(ty0, tx0, ty1, tx1));
                if (res.height != (ty1 - ty0) * scale || res.width != (tx1 - tx0) * scale || res.channels != c) {
                    throw new IllegalArgumentException("the model returned " + res.height + "x" + res.width
                            + " for a " + (ty1 - ty0) + "x" + (tx1 - tx0) + " tile; is scale=" + scale + " right?");
                }
                int oy = (y0 - ty0) * scale;
                int ox = (x0 - tx0) * scale;
                int rowLen = (x1 - x0) * scale * c;
                for (int y = 0; y < (y1 - y0) * scale; y++) {
                    System.arraycopy(res.data, ((oy + y) * res.width + ox) * c, out.data,
                            ((y0 * scale + y) * out.width + x0 * scale) * c, rowLen);
                }
            }
        }
        return out;
    }

    /** {@code clip(round(x), 0, 255)} with numpy's round-half-to-even, as 0..255 ints. */
    public static int[] toUint8(FloatImage image) {
        int[] out = new int[image.data.length];
        for (int i = 0; i < out.length; i++) {
            double r = Math.rint(image.data[i]);
            out[i] = r < 0 ? 0 : (r > 255 ? 255 : (int) r);
        }
        return out;
    }

    /**
     * A predictor running a model through {@code run} (input tensor bytes and shape in, raw output
     * bytes out): the core's input bytes, the output dequantized with the contract's output
     * quantization, {@code contract.scale} output pixels per input pixel.
     */
    public static TilePredictor quantizedPredictor(Contract contract, BiFunction<byte[], int[], byte[]> run) {
        if (contract.scale < 1) {
            throw new IllegalArgumentException(contract.source + ": tiling is for image-to-image models, not "
                    + contract.task.name().toLowerCase());
        }
        return tile -> {
            byte[] in = Preprocess.toInputBytes(contract, tile);
            byte[] raw = run.apply(in, new int[] {1, tile.height, tile.width, tile.channels});
            float[] values = Quantization.dequantize(raw, contract.output);
            int s = contract.scale;
            return new FloatImage(tile.height * s, tile.width * s, tile.channels, values);
        };
    }
}
