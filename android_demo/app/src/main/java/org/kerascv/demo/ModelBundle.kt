package org.kerascv.demo

import android.content.Context
import android.net.Uri
import androidx.documentfile.provider.DocumentFile
import org.kerascv.core.Contract
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * One exported model: its contract (the JSON written beside the .tflite by the exporter) and the
 * flatbuffer. Nothing about a model is known to the app except what the contract says.
 */
class ModelBundle(val name: String, val contract: Contract, val model: ByteBuffer) {

    /** A contract file found in a folder, with a way to read it and its .tflite. */
    class Candidate(val name: String, val readJson: () -> String, val readModel: () -> ByteArray) {
        fun load(): ModelBundle {
            val contract = Contract.parse(readJson(), "$name.json")
            val bytes = readModel()
            val buffer = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder())
            buffer.put(bytes).rewind()
            return ModelBundle(name, contract, buffer)
        }
    }

    companion object {
        /**
         * Contracts in a picked folder (the export's `tflite/` folder, or the export folder
         * itself: its sub-folders are searched one level deep). A contract counts when the
         * .tflite it names (its `file` field, else the same base name) sits beside it.
         */
        fun candidatesInTree(context: Context, tree: Uri): List<Candidate> {
            val root = DocumentFile.fromTreeUri(context, tree) ?: return emptyList()
            val folders = listOf(root) + root.listFiles().filter { it.isDirectory }
            val out = mutableListOf<Candidate>()
            for (folder in folders) {
                val files = folder.listFiles().filter { it.isFile }.associateBy { it.name ?: "" }
                for ((fileName, json) in files) {
                    if (!fileName.endsWith(".json")) continue
                    val text = read(context, json.uri).toString(Charsets.UTF_8)
                    val target = modelFileName(text, fileName) ?: continue
                    val model = files[target] ?: continue
                    out += Candidate(fileName.removeSuffix(".json"), { text }, { read(context, model.uri) })
                }
            }
            return out.sortedBy { it.name }
        }

        /** Contracts bundled in `assets/<dir>/` (see README: copy an export there). */
        fun candidatesInAssets(context: Context, dir: String = "model"): List<Candidate> {
            val names = context.assets.list(dir)?.toSet() ?: return emptyList()
            return names.filter { it.endsWith(".json") }.mapNotNull { fileName ->
                val text = context.assets.open("$dir/$fileName").use { it.readBytes() }.toString(Charsets.UTF_8)
                val target = modelFileName(text, fileName)
                if (target == null || target !in names) null
                else Candidate(fileName.removeSuffix(".json"), { text },
                    { context.assets.open("$dir/$target").use { it.readBytes() } })
            }.sortedBy { it.name }
        }

        /** The .tflite a contract describes, or null when the JSON is not a contract. */
        private fun modelFileName(text: String, jsonName: String): String? {
            val root = try {
                org.kerascv.core.Json.parse(text)
            } catch (e: IllegalArgumentException) {
                return null
            }
            if (root !is Map<*, *> || root["task"] == null || root["input"] == null) return null
            return (root["file"] as? String) ?: (jsonName.removeSuffix(".json") + ".tflite")
        }

        private fun read(context: Context, uri: Uri): ByteArray =
            context.contentResolver.openInputStream(uri)?.use { it.readBytes() }
                ?: throw IllegalArgumentException("cannot read $uri")
    }
}
