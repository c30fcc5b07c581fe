package org.kerascv.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.util.List;
import org.junit.Test;

/** Decoding on hand-made tensors: ties, signedness, palette, rounding, tiling geometry. */
public class PostprocessTest {
    private static final String TEMPLATE = "{\"task\": \"classification\", \"input_range\": [0, 255],"
            + " \"input\": {\"shape\": [1, 2, 2, 3], \"dtype\": \"uint8\","
            + "  \"quantization\": {\"scale\": 1.0, \"zero_point\": 0}},"
            + " \"output\": {\"shape\": [1, 4], \"dtype\": \"DTYPE\","
            + "  \"quantization\": {\"scale\": 0.5, \"zero_point\": ZERO}},"
            + " \"labels\": [\"w\", \"x\", \"y\", \"z\"]}";

    @Test
    public void topKRanksStoredValuesAndKeepsTiesInClassOrder() {
        Contract c = Contract.parse(TEMPLATE.replace("DTYPE", "int8").replace("ZERO", "-10"), "m.json");
        // stored -128 (lowest), 5, 5, -1: two tied best classes keep index order 1, 2
        List<TopK.Entry> top = TopK.decode(c, new byte[] {-128, 5, 5, -1}, 3);
        assertEquals(1, top.get(0).index);
        assertEquals(2, top.get(1).index);
        assertEquals(3, top.get(2).index);
        assertEquals("x", top.get(0).label);
        assertEquals((5 + 10) * 0.5f, top.get(0).score, 0f);
        assertEquals((-1 + 10) * 0.5f, top.get(2).score, 0f);
    }

    @Test
    public void uint8OutputsAreUnsigned() {
        Contract c = Contract.parse(TEMPLATE.replace("DTYPE", "uint8").replace("ZERO", "0"), "m.json");
        // byte -56 is stored 200: the best class, not the worst
        List<TopK.Entry> top = TopK.decode(c, new byte[] {10, (byte) 200, 20, 30}, 1);
        assertEquals(1, top.get(0).index);
        assertEquals(100f, top.get(0).score, 0f);
    }

    @Test
    public void paletteIsVocs() {
        int[][] p = Segmentation.palette(4);
        assertArrayEquals(new int[] {0, 0, 0}, p[0]);
        assertArrayEquals(new int[] {128, 0, 0}, p[1]);
        assertArrayEquals(new int[] {0, 128, 0}, p[2]);
        assertArrayEquals(new int[] {128, 128, 0}, p[3]);
        assertArrayEquals(new int[] {255, 255, 255}, java.util.Arrays.copyOf(Segmentation.colorize(new int[] {255}, 4), 3));
    }

    @Test
    public void argmaxTiesGoToTheLowerClass() {
        TensorSpec spec = new TensorSpec("out", new int[] {1, 1, 2, 3}, "int8", 1f, 0);
        assertArrayEquals(new int[] {1, 0}, Segmentation.argmax(new byte[] {0, 7, 7, 3, 3, -1}, spec, 3));
    }

    @Test
    public void srPixelsRoundHalfToEvenAndClamp() {
        FloatImage img = new FloatImage(1, 6, 1, new float[] {-3f, 0.5f, 1.5f, 2.5f, 254.6f, 300f});
        assertArrayEquals(new int[] {0, 0, 2, 2, 255, 255}, SuperResolution.toUint8(img));
    }

    @Test
    public void tilingCoversTheImageOnceAndMatchesWholeImageForPointwiseModels() {
        FloatImage img = new FloatImage(7, 10, 1);
        for (int i = 0; i < img.data.length; i++) {
            img.data[i] = i;
        }
        int[] calls = {0};
        // a "model" that repeats each pixel 2x2 (nearest upscale): tiling must not change it
        Tiling.TilePredictor nearest2x = tile -> {
            calls[0]++;
            FloatImage out = new FloatImage(tile.height * 2, tile.width * 2, 1);
            for (int y = 0; y < out.height; y++) {
                for (int x = 0; x < out.width; x++) {
                    out.data[y * out.width + x] = tile.get(y / 2, x / 2, 0);
                }
            }
            return out;
        };
        FloatImage tiled = SuperResolution.upscaleTiled(nearest2x, img, 2, 3, 1);
        assertEquals(3 * 4, calls[0]);
        FloatImage whole = nearest2x.predict(img);
        assertArrayEquals(whole.data, tiled.data, 0f);
    }
}
