package org.kerascv.core;

import java.util.ArrayList;
import java.util.List;

/** Classification decoding: the k best classes of the output with their dequantized scores. */
public final class TopK {
    private TopK() {
    }

    /** One ranked class. */
    public static final class Entry {
        public final int index;
        public final String label;
        public final float score;

        public Entry(int index, String label, float score) {
            this.index = index;
            this.label = label;
            this.score = score;
        }

        @Override
        public String toString() {
            return index + ":" + label + "=" + score;
        }
    }

    /**
     * Ranks by the stored (quantized) value, highest first; equal values keep the lower class
     * index first (a stable sort), so ties from quantization are ordered the same everywhere.
     */
    public static List<Entry> decode(Contract contract, byte[] rawOutput, int k) {
        TensorSpec spec = contract.output;
        int n = rawOutput.length / spec.elementSize();
        if (n != contract.labels.size()) {
            throw new IllegalArgumentException("output has " + n + " scores but " + contract.source
                    + " lists " + contract.labels.size() + " labels");
        }
        float[] key = Quantization.orderable(rawOutput, spec);
        float[] scores = Quantization.dequantize(rawOutput, spec);
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Float.compare(key[b], key[a]));  // stable (TimSort)
        List<Entry> out = new ArrayList<>();
        for (int i = 0; i < Math.min(k, n); i++) {
            out.add(new Entry(order[i], contract.labels.get(order[i]), scores[order[i]]));
        }
        return out;
    }
}
