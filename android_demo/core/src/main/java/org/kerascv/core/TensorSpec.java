package org.kerascv.core;

import java.util.Arrays;

/** One input or output tensor of the model: NHWC shape (-1 = dynamic), dtype, quantization. */
public final class TensorSpec {
    public final String name;
    public final int[] shape;
    /** "int8", "uint8" or "float32". */
    public final String dtype;
    /** Real value = (q - zeroPoint) * scale; scale 0 for float tensors. */
    public final float scale;
    public final int zeroPoint;

    public TensorSpec(String name, int[] shape, String dtype, float scale, int zeroPoint) {
        this.name = name;
        this.shape = shape.clone();
        this.dtype = dtype;
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    public boolean isQuantized() {
        return !dtype.equals("float32");
    }

    public boolean isSigned() {
        return dtype.equals("int8");
    }

    /** Smallest stored value (-128 for int8, 0 for uint8). */
    public int qmin() {
        return isSigned() ? -128 : 0;
    }

    /** Largest stored value (127 for int8, 255 for uint8). */
    public int qmax() {
        return isSigned() ? 127 : 255;
    }

    /** Bytes per element. */
    public int elementSize() {
        return isQuantized() ? 1 : 4;
    }

    public int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    @Override
    public String toString() {
        return name + " " + Arrays.toString(shape) + " " + dtype
                + (isQuantized() ? " scale=" + scale + " zero_point=" + zeroPoint : "");
    }
}
