package org.kerascv.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The resizes in float32, bit for bit against TensorFlow's results, and on known values. */
public class ResizeTest {

    @Test
    public void bilinearAntialiasMatchesTensorFlowExactly() throws Exception {
        compareBilinear("bilinear_antialias", true);
    }

    @Test
    public void bilinearWithoutAntialiasMatchesTensorFlowExactly() throws Exception {
        compareBilinear("bilinear", false);
    }

    @Test
    public void bicubicAntialiasMatchesTensorFlowExactly() throws Exception {
        compareBilinear("bicubic_antialias", true);
    }

    @SuppressWarnings("unchecked")
    private static void compareBilinear(String prefix, boolean antialias) throws Exception {
        Path dir = Vectors.dir("resize");
        FloatImage source = Vectors.image(dir.resolve("source.png"));
        Map<String, Object> cases = Vectors.json(dir.resolve("cases.json"));
        List<Object> sizes = (List<Object>) cases.get("bilinear");
        assertEquals(true, sizes.size() >= 3);
        for (Object o : sizes) {
            List<Object> hw = (List<Object>) o;
            int h = (int) (double) (Double) hw.get(0);
            int w = (int) (double) (Double) hw.get(1);
            ByteBuffer buf = ByteBuffer.wrap(Vectors.bytes(dir.resolve(prefix + "_" + h + "x" + w + ".bin")))
                    .order(ByteOrder.LITTLE_ENDIAN);
            float[] expected = new float[buf.remaining() / 4];
            buf.asFloatBuffer().get(expected);
            FloatImage got = prefix.startsWith("bicubic") ? Resize.bicubicAntialias(source, h, w)
                    : antialias ? Resize.bilinearAntialias(source, h, w) : Resize.bilinear(source, h, w);
            int diff = 0;
            float worst = 0f;
            for (int i = 0; i < expected.length; i++) {
                if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(got.data[i])) {
                    diff++;
                    worst = Math.max(worst, Math.abs(expected[i] - got.data[i]));
                }
            }
            assertEquals(prefix + " to " + h + "x" + w + ": values differ (largest difference " + worst + ")", 0, diff);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void nearestMaskResizeMatchesTensorFlow() throws Exception {
        Path dir = Vectors.dir("resize");
        Map<String, Object> cases = Vectors.json(dir.resolve("cases.json"));
        List<Object> shape = (List<Object>) cases.get("mask_shape");
        int mh = (int) (double) (Double) shape.get(0);
        int mw = (int) (double) (Double) shape.get(1);
        byte[] raw = Vectors.bytes(dir.resolve("mask.bin"));
        int[] mask = new int[raw.length];
        for (int i = 0; i < raw.length; i++) {
            mask[i] = raw[i] & 0xff;
        }
        for (Object o : (List<Object>) cases.get("nearest")) {
            List<Object> hw = (List<Object>) o;
            int h = (int) (double) (Double) hw.get(0);
            int w = (int) (double) (Double) hw.get(1);
            byte[] e = Vectors.bytes(dir.resolve("nearest_" + h + "x" + w + ".bin"));
            int[] expected = new int[e.length];
            for (int i = 0; i < e.length; i++) {
                expected[i] = e[i] & 0xff;
            }
            assertArrayEquals("nearest " + h + "x" + w, expected, Resize.nearest(mask, mh, mw, h, w));
        }
    }

    @Test
    public void upsamplingTwoPixelsInterpolatesWithHalfPixelCentres() {
        FloatImage row = new FloatImage(1, 2, 1, new float[] {0f, 100f});
        FloatImage up = Resize.bilinearAntialias(row, 1, 4);
        // output centres 0.25, 0.75, 1.25, 1.75 in input pixels -> clamped at the borders
        assertArrayEquals(new float[] {0f, 25f, 75f, 100f}, up.data, 1e-4f);
    }

    @Test
    public void downsamplingAveragesInsteadOfSkippingPixels() {
        FloatImage row = new FloatImage(1, 4, 1, new float[] {0f, 100f, 0f, 100f});
        FloatImage down = Resize.bilinearAntialias(row, 1, 2);
        // antialiased: each output is a triangle-weighted mean, never a single sampled 0 or 100
        for (float v : down.data) {
            assertEquals(true, v > 20f && v < 80f);
        }
    }
}
