package org.kerascv.core;

/**
 * Super-resolution: {@link Tiling}'s overlapping-tile predictor at the contract's upscaling factor
 * ({@code kerascv_apps.inference.tiling.predict_tiled} with {@code scale}).
 */
public final class SuperResolution {
    /** Defaults of the Python tiled predictor. */
    public static final int DEFAULT_TILE = Contract.DEFAULT_TILE;
    public static final int DEFAULT_OVERLAP = Contract.DEFAULT_SR_OVERLAP;

    private SuperResolution() {
    }

    public static FloatImage upscaleTiled(Tiling.TilePredictor predictor, FloatImage image, int scale, int tile,
                                          int overlap) {
        if (scale < 2) {
            throw new IllegalArgumentException("an upscaling factor is >= 2, got " + scale);
        }
        return Tiling.predictTiled(predictor, image, scale, tile, overlap);
    }

    /** The contract's model over {@code image} with the contract's tiling. */
    public static FloatImage upscale(Contract contract, java.util.function.BiFunction<byte[], int[], byte[]> run,
                                     FloatImage image) {
        return upscaleTiled(Tiling.quantizedPredictor(contract, run), image, contract.scale, contract.tile,
                contract.overlap);
    }

    /** {@link Tiling#toUint8}. */
    public static int[] toUint8(FloatImage image) {
        return Tiling.toUint8(image);
    }

    /** {@link Tiling#quantizedPredictor}. */
    public static Tiling.TilePredictor quantizedPredictor(Contract contract,
                                                          java.util.function.BiFunction<byte[], int[], byte[]> run) {
        return Tiling.quantizedPredictor(contract, run);
    }
}
