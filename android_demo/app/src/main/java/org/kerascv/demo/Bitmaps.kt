package org.kerascv.demo

import android.graphics.Bitmap
import org.kerascv.core.FloatImage
import org.kerascv.core.SuperResolution

/** Bitmap <-> core image conversions (ARGB_8888 pixels, alpha ignored). */
object Bitmaps {
    fun toFloatImage(bitmap: Bitmap, channels: Int): FloatImage {
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        return FloatImage.fromArgb(argb, bitmap.height, bitmap.width, channels)
    }

    /** Opaque ARGB pixels of an image (1 or 3 channels), for the core's drawing (Detection.draw). */
    fun toArgb(image: FloatImage): IntArray {
        val v = SuperResolution.toUint8(image)
        val c = image.channels
        return IntArray(image.width * image.height) { i ->
            val r = v[i * c]
            val g = if (c == 3) v[i * 3 + 1] else r
            val b = if (c == 3) v[i * 3 + 2] else r
            (0xff shl 24) or (r shl 16) or (g shl 8) or b
        }
    }

    fun fromArgb(argb: IntArray, width: Int, height: Int): Bitmap =
        Bitmap.createBitmap(argb, width, height, Bitmap.Config.ARGB_8888)

    /** Interleaved 0..255 values with 1 or 3 channels to a bitmap. */
    fun fromValues(values: IntArray, width: Int, height: Int, channels: Int): Bitmap {
        val argb = IntArray(width * height) { i ->
            val r = values[i * channels]
            val g = if (channels == 3) values[i * 3 + 1] else r
            val b = if (channels == 3) values[i * 3 + 2] else r
            (0xff shl 24) or (r shl 16) or (g shl 8) or b
        }
        return Bitmap.createBitmap(argb, width, height, Bitmap.Config.ARGB_8888)
    }

    /** Float pixels rounded half-to-even and clamped to 0..255 (the Python side's uint8 cast). */
    fun fromFloatImage(image: FloatImage): Bitmap =
        fromValues(SuperResolution.toUint8(image), image.width, image.height, image.channels)
}
