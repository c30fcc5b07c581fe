package org.kerascv.demo

import android.content.Context
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.framework.image.ByteBufferExtractor
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.vision.core.RunningMode
import com.google.mediapipe.tasks.vision.imageclassifier.ImageClassifier
import com.google.mediapipe.tasks.vision.imagesegmenter.ImageSegmenter
import org.kerascv.core.Contract
import org.kerascv.core.Detection
import org.kerascv.core.FloatImage
import org.kerascv.core.Preprocess
import org.kerascv.core.Resize
import org.kerascv.core.Restoration
import org.kerascv.core.Segmentation
import org.kerascv.core.SuperResolution
import org.kerascv.core.TopK
import org.tensorflow.lite.Interpreter
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** What a screen shows after one run. */
sealed class Outcome(val runtime: String, val millis: Double) {
    class Classes(runtime: String, millis: Double, val top: List<TopK.Entry>) : Outcome(runtime, millis)
    class Mask(runtime: String, millis: Double, val mask: IntArray, val overlay: IntArray, val pixels: IntArray) :
        Outcome(runtime, millis)
    class Upscaled(runtime: String, millis: Double, val sr: FloatImage, val bicubic: FloatImage) :
        Outcome(runtime, millis)
    /** Detections in photo pixels and the photo (ARGB) with them drawn by the core. */
    class Boxes(runtime: String, millis: Double, val detections: List<Detection>, val drawn: IntArray) :
        Outcome(runtime, millis)
    class Restored(runtime: String, millis: Double, val restored: FloatImage) : Outcome(runtime, millis)
}

/**
 * Runs one model on one photo. The core does the resize, (de)quantization and decoding exactly
 * as the Python side. MediaPipe Tasks run classifiers and segmenters whenever the 8-bit bitmap
 * they are handed carries exactly the core's input bytes (uint8 input with scale 1, zero point 0
 * and identity normalization: checked per image with `Preprocess.bitmapIsTensor`); otherwise,
 * and for super-resolution, LiteRT's Interpreter runs the core's bytes. Segmentation reads
 * MediaPipe's confidence masks (the dequantized output) and takes the argmax in the core: the
 * category mask of MediaPipe Tasks 0.10 was seen to hold non-class values on a few pixels of a
 * uint8 model. Detection runs in LiteRT's Interpreter (its four TFLite_Detection_PostProcess
 * outputs decoded by the core, letterbox-aware; MediaPipe's ObjectDetector would report boxes in
 * whole pixels of its own resize); restoration, like super-resolution, through the core's tiling.
 */
class ModelRunner(private val context: Context, private val bundle: ModelBundle) : Closeable {
    private val c: Contract = bundle.contract
    private var interpreter: Interpreter? = null
    private var classifier: ImageClassifier? = null
    private var segmenter: ImageSegmenter? = null

    /** The runtime the last run used. */
    var runtime: String = if (mediaPipeApplies()) "MediaPipe Tasks" else "LiteRT Interpreter"
        private set

    /** MediaPipe Tasks can run this model (same-size segmenter output, 3-channel uint8 input). */
    private fun mediaPipeApplies(): Boolean {
        if (c.task != Contract.Task.CLASSIFICATION && c.task != Contract.Task.SEGMENTATION) return false
        if (c.dynamicSize() || c.inputChannels() != 3 || c.fit != Contract.FIT_STRETCH) return false
        if (c.input.dtype != "uint8") return false
        return c.task == Contract.Task.CLASSIFICATION ||
            (c.output.dim(1) == c.inputHeight() && c.output.dim(2) == c.inputWidth())
    }

    fun run(photo: FloatImage, topK: Int, threshold: Float = Detection.DEFAULT_THRESHOLD): Outcome = when (c.task) {
        Contract.Task.CLASSIFICATION -> classify(photo, topK)
        Contract.Task.SEGMENTATION -> segment(photo)
        Contract.Task.SUPER_RESOLUTION -> upscale(photo)
        Contract.Task.RESTORATION -> restore(photo)
        Contract.Task.DETECTION -> detect(photo, threshold)
    }

    private fun baseOptions() = BaseOptions.builder().setModelAssetBuffer(bundle.model).build()

    private fun classify(photo: FloatImage, k: Int): Outcome {
        val x = Preprocess.resizeForModel(c, photo)
        val input = Preprocess.toInputBytes(c, x)
        if (mediaPipeApplies() && Preprocess.bitmapIsTensor(c, x, input)) {
            runtime = "MediaPipe Tasks"
            val mp = classifier ?: ImageClassifier.createFromOptions(context,
                ImageClassifier.ImageClassifierOptions.builder().setBaseOptions(baseOptions())
                    .setRunningMode(RunningMode.IMAGE).setMaxResults(-1).build()).also { classifier = it }
            val image = BitmapImageBuilder(Bitmaps.fromFloatImage(x)).build()
            val t0 = System.nanoTime()
            val result = mp.classify(image)
            val ms = (System.nanoTime() - t0) / 1e6
            // rank like the core (score, then class id) so both runtimes show the same order
            val top = result.classificationResult().classifications()[0].categories()
                .sortedWith { a, b ->
                    if (a.score() != b.score()) b.score().compareTo(a.score()) else a.index().compareTo(b.index())
                }.take(k)
                .map { TopK.Entry(it.index(), c.labels[it.index()], it.score()) }
            return Outcome.Classes(runtime, ms, top)
        }
        runtime = "LiteRT Interpreter"
        val t0 = System.nanoTime()
        val raw = runInterpreter(input, intArrayOf(1, x.height, x.width, x.channels))
        val ms = (System.nanoTime() - t0) / 1e6
        return Outcome.Classes(runtime, ms, TopK.decode(c, raw, k))
    }

    private fun segment(photo: FloatImage): Outcome {
        val x = Preprocess.resizeForModel(c, photo)
        val input = Preprocess.toInputBytes(c, x)
        val classes = c.labels.size
        val labels: IntArray
        val outH: Int
        val outW: Int
        val ms: Double
        if (mediaPipeApplies() && Preprocess.bitmapIsTensor(c, x, input)) {
            runtime = "MediaPipe Tasks"
            val mp = segmenter ?: ImageSegmenter.createFromOptions(context,
                ImageSegmenter.ImageSegmenterOptions.builder().setBaseOptions(baseOptions())
                    .setRunningMode(RunningMode.IMAGE)
                    .setOutputCategoryMask(false).setOutputConfidenceMasks(true).build()).also { segmenter = it }
            val t0 = System.nanoTime()
            val result = mp.segment(BitmapImageBuilder(Bitmaps.fromFloatImage(x)).build())
            ms = (System.nanoTime() - t0) / 1e6
            val masks = result.confidenceMasks().get()
            outH = masks[0].height
            outW = masks[0].width
            val scores = FloatArray(outH * outW * classes)
            for ((k, m) in masks.withIndex()) {
                val buf = ByteBufferExtractor.extract(m).order(ByteOrder.nativeOrder()).asFloatBuffer()
                for (p in 0 until outH * outW) scores[p * classes + k] = buf.get(p)
            }
            labels = Segmentation.argmax(scores, classes)
        } else {
            runtime = "LiteRT Interpreter"
            val t0 = System.nanoTime()
            val raw = runInterpreter(input, intArrayOf(1, x.height, x.width, x.channels))
            ms = (System.nanoTime() - t0) / 1e6
            val outShape = interpreter!!.getOutputTensor(0).shape()
            outH = outShape[1]
            outW = outShape[2]
            labels = Segmentation.argmax(raw, c.output, classes)
        }
        // back to the photo's size with nearest neighbour, as the Python prediction path does
        val mask = if (outH == photo.height && outW == photo.width) labels
        else Resize.nearest(labels, outH, outW, photo.height, photo.width)
        val rgb = if (photo.channels == 3) photo else FloatImage(photo.height, photo.width, 3,
            FloatArray(photo.data.size * 3) { photo.data[it / 3] })
        val overlay = Segmentation.overlay(rgb, mask, classes, Segmentation.OVERLAY_ALPHA)
        return Outcome.Mask(runtime, ms, mask, overlay, Segmentation.classPixels(mask, classes))
    }

    private fun upscale(photo: FloatImage): Outcome {
        runtime = "LiteRT Interpreter"
        val t0 = System.nanoTime()
        // the contract's tiling (tiling.tile/overlap, else the Python defaults)
        val sr = SuperResolution.upscale(c, { input, shape -> runInterpreter(input, shape) }, photo)
        val ms = (System.nanoTime() - t0) / 1e6
        val bicubic = Resize.bicubicAntialias(photo, photo.height * c.scale, photo.width * c.scale)
        return Outcome.Upscaled(runtime, ms, sr, bicubic)
    }

    /** Restoration: the same tiling as super-resolution at scale 1 (Restoration.restore). */
    private fun restore(photo: FloatImage): Outcome {
        runtime = "LiteRT Interpreter"
        val t0 = System.nanoTime()
        val restored = Restoration.restore(c, { input, shape -> runInterpreter(input, shape) }, photo)
        val ms = (System.nanoTime() - t0) / 1e6
        return Outcome.Restored(runtime, ms, restored)
    }

    /** Detection: the core's input (stretched or letterboxed, as the contract says), LiteRT's
     * four outputs decoded by the core back to the photo's pixels and drawn onto it. */
    private fun detect(photo: FloatImage, threshold: Float): Outcome {
        runtime = "LiteRT Interpreter"
        val x = Preprocess.resizeForModel(c, photo)
        val fit = Preprocess.fit(c, photo.height, photo.width)
        val input = Preprocess.toInputBytes(c, x)
        val t0 = System.nanoTime()
        val raw = runInterpreterAll(input, intArrayOf(1, x.height, x.width, x.channels))
        val ms = (System.nanoTime() - t0) / 1e6
        val detections = Detection.decode(c, raw, fit, threshold)
        val argb = Bitmaps.toArgb(photo)
        Detection.draw(argb, photo.width, photo.height, detections, c.labels.size)
        return Outcome.Boxes(runtime, ms, detections, argb)
    }

    /** Raw input bytes in, every output's raw bytes out (a detector's four outputs). */
    private fun runInterpreterAll(input: ByteArray, shape: IntArray): Array<ByteArray> {
        val interp = interpreter ?: Interpreter(bundle.model, Interpreter.Options().setNumThreads(4))
            .also { interpreter = it }
        if (!interp.getInputTensor(0).shape().contentEquals(shape)) {
            interp.resizeInput(0, shape, false)
            interp.allocateTensors()
        }
        val inBuf = ByteBuffer.allocateDirect(input.size).order(ByteOrder.nativeOrder())
        inBuf.put(input).rewind()
        val outBufs = HashMap<Int, Any>()
        for (i in 0 until interp.outputTensorCount) {
            outBufs[i] = ByteBuffer.allocateDirect(interp.getOutputTensor(i).numBytes()).order(ByteOrder.nativeOrder())
        }
        interp.runForMultipleInputsOutputs(arrayOf<Any>(inBuf), outBufs)
        return Array(interp.outputTensorCount) { i ->
            val buf = outBufs[i] as ByteBuffer
            buf.rewind()
            ByteArray(buf.remaining()).also { buf.get(it) }
        }
    }

    /** Raw input bytes in, the first output's raw bytes out (the interpreter resized to [shape]). */
    private fun runInterpreter(input: ByteArray, shape: IntArray): ByteArray =
        runInterpreterAll(input, shape)[0]

    override fun close() {
        interpreter?.close()
        classifier?.close()
        segmenter?.close()
    }

    companion object {
        /** The contract as the info panel shows it. */
        fun describe(c: Contract): String = buildString {
            append("task: ${c.task.name.lowercase()}\n")
            append("input: ${c.input}\n")
            append("normalization: mean ${c.mean.joinToString()} std ${c.std.joinToString()}; resize ${c.resize}")
            append(if (c.fit == Contract.FIT_LETTERBOX) ", letterbox (pad ${c.padValue})\n" else ", stretch\n")
            for (o in c.outputs) append("output: $o${c.outputMeaning?.let { " ($it)" } ?: ""}\n")
            if (c.labels.isNotEmpty()) append("labels: ${c.labels.size}\n")
            if (c.scale > 1) append("upscaling: x${c.scale}\n")
            if (c.tile > 0) append("tiling: ${c.tile} px, overlap ${c.overlap} px\n")
        }
    }
}
