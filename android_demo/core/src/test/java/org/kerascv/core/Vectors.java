package org.kerascv.core;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * Reads the test vectors written by {@code python -m kerascv_apps.export.phone_vectors DIR}; DIR
 * comes from the system property {@code kerascv.vectors} (or the {@code KERASCV_VECTORS} variable).
 */
final class Vectors {
    private Vectors() {
    }

    static Path dir(String task) {
        String base = System.getProperty("kerascv.vectors", System.getenv("KERASCV_VECTORS"));
        if (base == null) {
            throw new IllegalStateException("set -Dkerascv.vectors=DIR (written by "
                    + "`python -m kerascv_apps.export.phone_vectors DIR`)");
        }
        Path p = Paths.get(base, task);
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("no test vectors at " + p);
        }
        return p;
    }

    static byte[] bytes(Path p) throws IOException {
        return Files.readAllBytes(p);
    }

    static String text(Path p) throws IOException {
        return new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
    }

    static Contract contract(Path dir) throws IOException {
        Path p = dir.resolve("contract.json");
        return Contract.parse(text(p), p.toString());
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(Path p) throws IOException {
        return (Map<String, Object>) Json.parse(text(p));
    }

    /** A PNG's samples as stored (no colour conversion): [height, width, bands] + data. */
    static int[] samples(Path p, int[] shapeOut) throws IOException {
        BufferedImage img = ImageIO.read(new File(p.toString()));
        if (img == null) {
            throw new IOException("cannot decode " + p);
        }
        Raster r = img.getRaster();
        shapeOut[0] = r.getHeight();
        shapeOut[1] = r.getWidth();
        shapeOut[2] = r.getNumBands();
        return r.getPixels(0, 0, r.getWidth(), r.getHeight(), (int[]) null);
    }

    /** A PNG as a float image (the app's decoded photo). */
    static FloatImage image(Path p) throws IOException {
        int[] shape = new int[3];
        int[] s = samples(p, shape);
        float[] f = new float[s.length];
        for (int i = 0; i < s.length; i++) {
            f[i] = s[i];
        }
        return new FloatImage(shape[0], shape[1], shape[2], f);
    }
}
