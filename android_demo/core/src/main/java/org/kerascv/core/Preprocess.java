package org.kerascv.core;

/**
 * Pixels to the model's input tensor, as the contract says: resize to the input size (unless the
 * model takes any size, or the image already has it; letterboxed when the contract's
 * {@code input.resize.fit} says so, see {@link Fit}), normalise, quantize.
 */
public final class Preprocess {
    private Preprocess() {
    }

    /** Where an {@code height x width} photo lies in the model input (dynamic input: all of it). */
    public static Fit fit(Contract contract, int height, int width) {
        if (contract.dynamicSize()) {
            return Fit.of(Contract.FIT_STRETCH, height, width, height, width);
        }
        return Fit.of(contract.fit, height, width, contract.inputHeight(), contract.inputWidth());
    }

    /** The image at the model's input size (the resize of the Python prediction path). */
    public static FloatImage resizeForModel(Contract contract, FloatImage image) {
        checkChannels(contract, image);
        if (contract.dynamicSize()) {
            return image;
        }
        Fit f = fit(contract, image.height, image.width);
        FloatImage content = image.height == f.contentHeight && image.width == f.contentWidth ? image
                : contract.resize.equals(Contract.RESIZE_BILINEAR)
                ? Resize.bilinear(image, f.contentHeight, f.contentWidth)
                : Resize.bilinearAntialias(image, f.contentHeight, f.contentWidth);
        if (f.contentHeight == f.inputHeight && f.contentWidth == f.inputWidth) {
            return content;
        }
        FloatImage canvas = new FloatImage(f.inputHeight, f.inputWidth, image.channels);
        java.util.Arrays.fill(canvas.data, contract.padValue);
        int row = f.contentWidth * image.channels;
        for (int y = 0; y < f.contentHeight; y++) {
            System.arraycopy(content.data, y * row, canvas.data,
                    ((f.top + y) * f.inputWidth + f.left) * image.channels, row);
        }
        return canvas;
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
