package org.kerascv.core;

/**
 * Pixels to the model's input tensor, as the contract says: resize to the input size (unless the
 * model takes any size, or the image already has it), normalise, quantize.
 */
public final class Preprocess {
    private Preprocess() {
    }

    /** The image at the model's input size (the resize of the Python prediction path). */
    public static FloatImage resizeForModel(Contract contract, FloatImage image) {
        checkChannels(contract, image);
        if (contract.dynamicSize()
                || (image.height == contract.inputHeight() && image.width == contract.inputWidth())) {
            return image;
        }
        if (contract.resize.equals(Contract.RESIZE_BILINEAR)) {
            return Resize.bilinear(image, contract.inputHeight(), contract.inputWidth());
        }
        return Resize.bilinearAntialias(image, contract.inputHeight(), contract.inputWidth());
    }

    /** Raw input tensor bytes (NHWC, batch 1) for an image already at the model's size. */
    public static byte[] toInputBytes(Contract contract, FloatImage image) {
        checkChannels(contract, image);
        float[] x = image.data;
        boolean identity = true;
        for (int c = 0; c < image.channels; c++) {
            identity &= contract.mean[c] == 0f && contract.std[c] == 1f;
        }
        if (!identity) {
            x = new float[image.data.length];
            for (int i = 0; i < x.length; i++) {
                int c = i % image.channels;
                x[i] = (image.data[i] - contract.mean[c]) / contract.std[c];
            }
        }
        return Quantization.quantize(x, contract.input);
    }

    /** Resize + normalise + quantize: what the interpreter is fed for {@code image}. */
    public static byte[] inputTensor(Contract contract, FloatImage image) {
        return toInputBytes(contract, resizeForModel(contract, image));
    }

    /**
     * True when {@code tensor} (the model's input bytes for {@code resized}) holds exactly the
     * image's pixels rounded to 8 bits, i.e. a runtime that copies an 8-bit bitmap into the
     * input tensor (MediaPipe Tasks with a uint8 model) feeds the same bytes as the core.
     */
    public static boolean bitmapIsTensor(Contract contract, FloatImage resized, byte[] tensor) {
        if (!contract.input.dtype.equals("uint8") || tensor.length != resized.data.length) {
            return false;
        }
        for (int i = 0; i < tensor.length; i++) {
            double p = Math.rint(resized.data[i]);
            int pixel = p < 0 ? 0 : (p > 255 ? 255 : (int) p);
            if ((tensor[i] & 0xff) != pixel) {
                return false;
            }
        }
        return true;
    }

    private static void checkChannels(Contract contract, FloatImage image) {
        if (image.channels != contract.inputChannels()) {
            throw new IllegalArgumentException("the model (" + contract.source + ") takes "
                    + contract.inputChannels() + "-channel images, got " + image.channels);
        }
    }
}
