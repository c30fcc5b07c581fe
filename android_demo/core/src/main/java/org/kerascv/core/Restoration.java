package org.kerascv.core;

import java.util.function.BiFunction;

/**
 * Restoration (denoising, low-light enhancement: image to image of the same size, uint8 in and
 * out): {@link Tiling}'s overlapping-tile predictor at scale 1, as the Python
 * {@code RestorationTask.tiled} ({@code predict_tiled} with the task's tile and context, written
 * into the contract as {@code tiling.tile/overlap}).
 */
public final class Restoration {
    private Restoration() {
    }

    public static FloatImage restoreTiled(Tiling.TilePredictor predictor, FloatImage image, int tile, int overlap) {
        return Tiling.predictTiled(predictor, image, 1, tile, overlap);
    }

    /** The contract's model over {@code image} with the contract's tiling. */
    public static FloatImage restore(Contract contract, BiFunction<byte[], int[], byte[]> run, FloatImage image) {
        if (contract.task != Contract.Task.RESTORATION) {
            throw new IllegalArgumentException(contract.source + ": a " + contract.task.name().toLowerCase()
                    + " model, not a restoration model");
        }
        return restoreTiled(Tiling.quantizedPredictor(contract, run), image, contract.tile, contract.overlap);
    }
}
