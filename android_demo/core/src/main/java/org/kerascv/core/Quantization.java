package org.kerascv.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * (De)quantization with a tensor's scale and zero point, in float32 like the Python runner:
 * {@code q = clamp(rint(x / scale + zero_point))} (round half to even, numpy's {@code round}) and
 * {@code x = (q - zero_point) * scale}.
 */
public final class Quantization {
    private Quantization() {
    }

    /** Quantizes real values into the tensor's raw bytes (float32 tensors: little-endian floats). */
    public static byte[] quantize(float[] values, TensorSpec spec) {
        if (!spec.isQuantized()) {
            ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : values) {
                buf.putFloat(v);
            }
            return buf.array();
        }
        byte[] out = new byte[values.length];
        float zero = spec.zeroPoint;
        int lo = spec.qmin();
        int hi = spec.qmax();
        for (int i = 0; i < values.length; i++) {
            double q = Math.rint(values[i] / spec.scale + zero);
            int v = q < lo ? lo : (q > hi ? hi : (int) q);
            out[i] = (byte) v;
        }
        return out;
    }

    /** The stored integer of element {@code i} (sign-aware for int8, 0..255 for uint8). */
    public static int stored(byte[] raw, int i, TensorSpec spec) {
        return spec.isSigned() ? raw[i] : raw[i] & 0xff;
    }

    /** Raw output bytes to real values (float32 tensors: little-endian floats). */
    public static float[] dequantize(byte[] raw, TensorSpec spec) {
        if (!spec.isQuantized()) {
            ByteBuffer buf = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
            float[] out = new float[raw.length / 4];
            for (int i = 0; i < out.length; i++) {
                out[i] = buf.getFloat();
            }
            return out;
        }
        float[] out = new float[raw.length];
        for (int i = 0; i < raw.length; i++) {
            out[i] = (float) (stored(raw, i, spec) - spec.zeroPoint) * spec.scale;
        }
        return out;
    }

    /** Values comparable by order: stored integers for quantized tensors, floats otherwise. */
    static float[] orderable(byte[] raw, TensorSpec spec) {
        if (!spec.isQuantized()) {
            return dequantize(raw, spec);
        }
        float[] out = new float[raw.length];
        for (int i = 0; i < raw.length; i++) {
            out[i] = stored(raw, i, spec);
        }
        return out;
    }
}
