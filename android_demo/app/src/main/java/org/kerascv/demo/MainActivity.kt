package org.kerascv.demo

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Color
import android.net.Uri
import android.os.Bundle
import android.view.View
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.TextView
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AlertDialog
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.kerascv.core.Contract
import org.kerascv.core.Detection
import org.kerascv.core.FloatImage
import org.kerascv.core.Resize
import org.kerascv.core.Segmentation

/**
 * One screen for every task; what it shows depends on the loaded model's contract:
 * classification: photo + top-k labels with scores; segmentation: photo | coloured overlay +
 * legend; super-resolution: bicubic | super-resolved; restoration: input | restored; detection:
 * photo | boxes drawn by the core + one line per detection. Inference time under each result.
 */
class MainActivity : AppCompatActivity() {
    private var bundle: ModelBundle? = null
    private var runner: ModelRunner? = null
    private var photo: Bitmap? = null

    private lateinit var modelInfo: TextView
    private lateinit var leftCaption: TextView
    private lateinit var rightCaption: TextView
    private lateinit var leftImage: ImageView
    private lateinit var rightImage: ImageView
    private lateinit var results: LinearLayout
    private lateinit var timing: TextView

    private val pickFolder = registerForActivityResult(ActivityResultContracts.OpenDocumentTree()) { uri ->
        if (uri != null) chooseModel(ModelBundle.candidatesInTree(this, uri), uri.toString())
    }
    private val pickImage = registerForActivityResult(ActivityResultContracts.GetContent()) { uri ->
        if (uri != null) decode(uri)?.let { setPhoto(it) }
    }
    private val takePicture = registerForActivityResult(ActivityResultContracts.TakePicturePreview()) { bmp ->
        if (bmp != null) setPhoto(bmp)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        modelInfo = findViewById(R.id.modelInfo)
        leftCaption = findViewById(R.id.leftCaption)
        rightCaption = findViewById(R.id.rightCaption)
        leftImage = findViewById(R.id.leftImage)
        rightImage = findViewById(R.id.rightImage)
        results = findViewById(R.id.results)
        timing = findViewById(R.id.timing)
        findViewById<View>(R.id.pickModel).setOnClickListener { pickFolder.launch(null) }
        findViewById<View>(R.id.pickImage).setOnClickListener { pickImage.launch("image/*") }
        findViewById<View>(R.id.camera).setOnClickListener { takePicture.launch(null) }
        val bundled = ModelBundle.candidatesInAssets(this)
        if (bundled.isNotEmpty()) chooseModel(bundled, "assets/model")
    }

    override fun onDestroy() {
        runner?.close()
        super.onDestroy()
    }

    private fun chooseModel(candidates: List<ModelBundle.Candidate>, where: String) {
        when {
            candidates.isEmpty() -> modelInfo.text = "No model contract (.json beside a .tflite) in $where"
            candidates.size == 1 -> load(candidates[0])
            else -> AlertDialog.Builder(this).setTitle("Model")
                .setItems(candidates.map { it.name }.toTypedArray()) { _, i -> load(candidates[i]) }
                .show()
        }
    }

    private fun load(candidate: ModelBundle.Candidate) {
        lifecycleScope.launch {
            try {
                val loaded = withContext(Dispatchers.IO) { candidate.load() }
                runner?.close()
                bundle = loaded
                runner = ModelRunner(this@MainActivity, loaded)
                modelInfo.text = "${loaded.name}\n" + ModelRunner.describe(loaded.contract)
                photo?.let { predict(it) }
            } catch (e: IllegalArgumentException) {  // ContractException included: names file + field
                modelInfo.text = "Cannot use ${candidate.name}: ${e.message}"
            }
        }
    }

    private fun decode(uri: Uri): Bitmap? = contentResolver.openInputStream(uri)?.use {
        BitmapFactory.decodeStream(it, null, BitmapFactory.Options().apply {
            inPreferredConfig = Bitmap.Config.ARGB_8888
        })
    }

    private fun setPhoto(bitmap: Bitmap) {
        photo = bitmap
        predict(bitmap)
    }

    private fun predict(bitmap: Bitmap) {
        val current = runner
        if (current == null) {
            timing.setText(R.string.no_model)
            return
        }
        val contract = bundle!!.contract
        timing.text = "running…"
        lifecycleScope.launch {
            try {
                val outcome = withContext(Dispatchers.Default) {
                    var image = Bitmaps.toFloatImage(bitmap, contract.inputChannels())
                    if (contract.task == Contract.Task.SUPER_RESOLUTION || contract.task == Contract.Task.RESTORATION) {
                        image = limitForUpscaling(image)
                    }
                    image to current.run(image, TOP_K)
                }
                show(contract, outcome.first, outcome.second)
            } catch (e: RuntimeException) {
                timing.text = "Failed: ${e.message}"
            }
        }
    }

    /** Large photos are shrunk (core resize) before upscaling or restoring, to keep the result in memory. */
    private fun limitForUpscaling(image: FloatImage): FloatImage {
        val longSide = maxOf(image.height, image.width)
        if (longSide <= MAX_SR_INPUT) return image
        val f = MAX_SR_INPUT.toDouble() / longSide
        return Resize.bilinearAntialias(image, maxOf(1, (image.height * f).toInt()), maxOf(1, (image.width * f).toInt()))
    }

    private fun show(contract: Contract, image: FloatImage, outcome: Outcome) {
        results.removeAllViews()
        when (outcome) {
            is Outcome.Classes -> {
                leftCaption.text = "photo"
                leftImage.setImageBitmap(Bitmaps.fromFloatImage(image))
                rightCaption.text = ""
                rightImage.setImageDrawable(null)
                for ((rank, e) in outcome.top.withIndex()) {
                    addRow(null, "${rank + 1}. ${e.label}  ${"%.3f".format(e.score)}")
                }
            }
            is Outcome.Mask -> {
                leftCaption.text = "photo"
                leftImage.setImageBitmap(Bitmaps.fromFloatImage(image))
                rightCaption.text = "overlay"
                rightImage.setImageBitmap(Bitmaps.fromValues(outcome.overlay, image.width, image.height, 3))
                val palette = Segmentation.palette(contract.labels.size)
                val total = outcome.mask.size.toDouble()
                for ((i, name) in contract.labels.withIndex()) {
                    val rgb = palette[i]
                    addRow(Color.rgb(rgb[0], rgb[1], rgb[2]),
                        "$i: $name  ${"%.1f".format(100 * outcome.pixels[i] / total)}%")
                }
            }
            is Outcome.Upscaled -> {
                leftCaption.text = "bicubic x${contract.scale}"
                leftImage.setImageBitmap(Bitmaps.fromFloatImage(outcome.bicubic))
                rightCaption.text = "super-resolved x${contract.scale}"
                rightImage.setImageBitmap(Bitmaps.fromFloatImage(outcome.sr))
            }
            is Outcome.Restored -> {
                leftCaption.text = "input"
                leftImage.setImageBitmap(Bitmaps.fromFloatImage(image))
                rightCaption.text = "restored"
                rightImage.setImageBitmap(Bitmaps.fromFloatImage(outcome.restored))
            }
            is Outcome.Boxes -> {
                leftCaption.text = "photo"
                leftImage.setImageBitmap(Bitmaps.fromFloatImage(image))
                rightCaption.text = "detections (score >= ${Detection.DEFAULT_THRESHOLD})"
                rightImage.setImageBitmap(Bitmaps.fromArgb(outcome.drawn, image.width, image.height))
                if (outcome.detections.isEmpty()) addRow(null, "no detection")
                for (d in outcome.detections) {
                    addRow(Detection.color(d.classId, contract.labels.size), d.toString())
                }
            }
        }
        timing.text = "${outcome.runtime}: inference %.1f ms".format(outcome.millis)
    }

    private fun addRow(color: Int?, text: String) {
        val row = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }
        if (color != null) {
            val swatch = View(this).apply { setBackgroundColor(color) }
            val size = (16 * resources.displayMetrics.density).toInt()
            row.addView(swatch, LinearLayout.LayoutParams(size, size).apply { marginEnd = size / 2 })
        }
        row.addView(TextView(this).apply { this.text = text })
        results.addView(row)
    }

    companion object {
        /** Display choices of the app, not properties of a model. */
        const val TOP_K = 5
        const val MAX_SR_INPUT = 512
    }
}
