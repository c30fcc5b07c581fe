"""Detection folders in the three common annotation formats, streamed like the other folders.

``coco_folder:<root>`` (COCO JSON)::

    root/annotations.json + root/images/...            (split drawn by val/test_fraction)
    root/{train,val,test}/annotations.json + images/   (fixed splits; missing ones drawn)

``annotations`` (a path inside ``root``) names another JSON file. Boxes are COCO's
``[x, y, width, height]`` in pixels; category ids (any integers) become class ids 0..C-1 in
ascending id order, named by the categories. ``iscrowd`` regions are left out (COCO's own
evaluation ignores them). An image listed without annotations is a background example.

``voc_folder:<root>`` (Pascal VOC XML)::

    root/Annotations/<id>.xml + root/JPEGImages/<filename>
    root/ImageSets/Main/{train,val,test}.txt            (optional fixed splits, one id a line)

VOC's ``bndbox`` pixels are 1-based and inclusive: ``xmin = 1`` is the first column, so a box
covers the pixel edges ``xmin - 1 .. xmax``. Classes: ``class_names``, else ``root/labels.txt``,
else the object names found, sorted. An XML file without ``object`` is a background example.

``yolo_folder:<root>`` (YOLO txt)::

    root/images/<stem>.<ext> + root/labels/<stem>.txt
    root/{train,val,test}/{images,labels}/  or  root/{images,labels}/{train,val,test}/

One ``class x_center y_center width height`` line per object, all in ratios of the image.
Classes: ``class_names``, else ``root/classes.txt`` (one name a line) or the ``names`` of
``root/data.yaml``. An image without a label file (or with an empty one) is a background
example; a label file without its image is refused.

Every source yields the example format of ``data/detection.py`` and checks everything before
a run starts, naming the file (and the object) of each problem: unreadable or malformed
annotation files, missing keys, duplicate ids or file names, annotations pointing at unknown
images or categories, missing image files, boxes outside the image, degenerate or non-finite
boxes, class ids outside the classes, an image size that differs from the one declared, more
objects than ``max_boxes``; image files themselves are checked by header like the ``folder``
source (``data/validate.py``).
"""

import json
import os
import xml.etree.ElementTree as ET

from kerascv_apps.data.detection import (detection_stream, pad_boxes, pixel_box, raise_all,
                                         relative_box)
from kerascv_apps.data.sources.base import (DataError, DatasetSplits, read_class_names,
                                            register_source, split_items)
from kerascv_apps.data.sources.image_folder import EXTENSIONS
from kerascv_apps.data.validate import (MAX_PIXELS, check_decodable, check_headers,
                                       choose_image_size, refuse_outside)
from kerascv_apps.models.detection.heads import DEFAULT_MAX_BOXES

SPLIT_NAMES = ("train", "val", "test")


class Item:
    """One image and its objects as read from the annotations, before the image is probed:
    ``objects`` are ``(kind, coordinates, class_id, where)`` with kind ``"pixel"`` (y_min,
    x_min, y_max, x_max in pixel edges) or ``"relative"`` (the same in ratios)."""

    def __init__(self, image, where, declared_size=None):
        self.image = image
        self.where = where
        self.declared_size = declared_size  # (width, height) the annotation says
        self.objects = []


def _finish(kind, root, parts, class_names, max_boxes, image_size, channels, val_fraction,
            test_fraction, seed, cache, max_pixels, info):
    """Probes the images, converts and checks every box against its image's real size (all
    problems in one error), splits and streams."""
    items = [item for split in parts.values() for item in split]
    if not items:
        raise DataError(f"{kind} folder {root!r}: no images")
    refuse_outside([i.image for i in items], root)
    missing = [f"{i.where}: image file {i.image} does not exist" for i in items
               if not os.path.isfile(i.image)]
    raise_all(missing, f"{kind} folder {root}")
    headers = {h.path: h for h in check_headers([i.image for i in items], max_pixels)}
    check_decodable(headers.values(), channels)
    problems = []
    num_classes = len(class_names)
    for item in items:
        header = headers[item.image]
        if item.declared_size is not None and \
                tuple(int(v) for v in item.declared_size) != (header.width, header.height):
            problems.append(f"{item.where}: declares a {item.declared_size[0]}x"
                            f"{item.declared_size[1]} image but {item.image} is "
                            f"{header.width}x{header.height}")
            continue
        rows = []
        for box_kind, coords, class_id, where in item.objects:
            try:
                if box_kind == "pixel":
                    rows.append(pixel_box(*coords, header.height, header.width, class_id,
                                          num_classes, where))
                else:
                    rows.append(relative_box(*coords, class_id, num_classes, where))
            except DataError as e:
                problems.append(str(e))
        try:
            item.target = pad_boxes(rows, max_boxes, item.where)
        except DataError as e:
            problems.append(str(e))
    raise_all(problems, f"{kind} folder {root}")
    parts = split_items(parts, seed, val_fraction, test_fraction, f"{kind} folder {root!r}")
    for split in SPLIT_NAMES:
        if not parts.get(split):
            raise DataError(f"{kind} folder {root!r}: split {split!r} has no images")
    size, how = choose_image_size(image_size, list(headers.values()))
    datasets = {s: detection_stream([i.image for i in p], [i.target for i in p],
                                    [headers[i.image].nbytes for i in p], size, channels, s,
                                    cache) for s, p in parts.items()}
    counts = {s: {"objects": int(sum((i.target[:, 4] >= 0).sum() for i in p)),
                  "background_images": int(sum(not (i.target[:, 4] >= 0).any() for i in p))}
              for s, p in parts.items()}
    return DatasetSplits(
        name=f"{kind}:{root}", task="detection", train=datasets["train"], val=datasets["val"],
        test=datasets["test"], image_shape=size + (channels,), num_classes=num_classes,
        class_names=list(class_names), sizes={s: len(p) for s, p in parts.items()},
        info={"source": os.path.abspath(root), "streaming": True, "image_size_from": how,
              "max_boxes": int(max_boxes), "box_format": "rel_yxyx", "objects": counts,
              **info})


def _check_common(root, channels, max_boxes):
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}")
    if not os.path.isdir(root):
        raise DataError(f"detection folder {root!r} does not exist or is not a directory")
    if int(max_boxes) < 1:
        raise DataError(f"max_boxes must be a positive int, got {max_boxes!r}")


# --- COCO -----------------------------------------------------------------------------------
def _number_list(value, n):
    return isinstance(value, (list, tuple)) and len(value) == n and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def read_coco(path, images_dir):
    """``(items, categories)`` of one COCO JSON file: items by image in file order; the
    categories as ``[(id, name)]`` sorted by id. Every problem of the file in one error."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read annotations ({e})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object with images, annotations, categories")
    missing = [k for k in ("images", "annotations", "categories")
               if not isinstance(data.get(k), list)]
    if missing:
        raise DataError(f"{path}: no {', '.join(missing)} list (a COCO file has images, "
                        f"annotations and categories)")
    problems, categories, names = [], {}, set()
    for i, cat in enumerate(data["categories"]):
        where = f"{path}: categories[{i}]"
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or \
                not isinstance(cat.get("name"), str):
            problems.append(f"{where}: expected an object with an integer id and a name")
        elif cat["id"] in categories:
            problems.append(f"{where}: duplicate category id {cat['id']}")
        elif cat["name"] in names:
            problems.append(f"{where}: duplicate category name {cat['name']!r}")
        else:
            categories[cat["id"]] = cat["name"]
            names.add(cat["name"])
    order = sorted(categories)
    class_of = {cid: k for k, cid in enumerate(order)}
    items, files = {}, {}
    for i, img in enumerate(data["images"]):
        where = f"{path}: images[{i}]"
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            problems.append(f"{where}: expected an object with an id and a file_name")
            continue
        if img["id"] in items:
            problems.append(f"{where}: duplicate image id {img['id']!r}")
            continue
        if img["file_name"] in files:
            problems.append(f"{where}: duplicate file_name {img['file_name']!r} (also image id "
                            f"{files[img['file_name']]!r})")
            continue
        files[img["file_name"]] = img["id"]
        declared = (img["width"], img["height"]) if "width" in img and "height" in img else None
        items[img["id"]] = Item(os.path.join(images_dir, img["file_name"]),
                                f"{path}: image id {img['id']!r} ({img['file_name']})", declared)
    seen = set()
    for i, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{i}]"
        if not isinstance(ann, dict):
            problems.append(f"{where}: expected an object")
            continue
        if "id" in ann:
            if ann["id"] in seen:
                problems.append(f"{where}: duplicate annotation id {ann['id']!r}")
                continue
            seen.add(ann["id"])
            where = f"{path}: annotation id {ann['id']!r}"
        if ann.get("image_id") not in items:
            problems.append(f"{where}: image_id {ann.get('image_id')!r} is not in images")
            continue
        if ann.get("category_id") not in categories:
            problems.append(f"{where}: category_id {ann.get('category_id')!r} is not one of the "
                            f"categories {order}")
            continue
        if not _number_list(ann.get("bbox"), 4):
            problems.append(f"{where}: bbox {ann.get('bbox')!r} is not [x, y, width, height]")
            continue
        if ann.get("iscrowd"):
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        item = items[ann["image_id"]]
        item.objects.append(("pixel", (y, x, y + h, x + w), class_of[ann["category_id"]],
                             f"{where} on {item.image}"))
    raise_all(problems, path)
    return list(items.values()), [(cid, categories[cid]) for cid in order]


@register_source("coco_folder", task="detection")
def load_coco_folder(root, annotations=None, images="images", image_size=None, channels=3,
                     max_boxes=DEFAULT_MAX_BOXES, val_fraction=0.15, test_fraction=0.15, seed=0,
                     cache=None, max_pixels=MAX_PIXELS):
    """A COCO JSON detection folder (layout in the module docstring).

    Args:
        root: the folder.
        annotations: the JSON file (default ``annotations.json`` in root or each split folder).
        images: the images folder name beside it.
        image_size: (height, width) or one int; default the median size, capped at 512.
        channels: 1 or 3.
        max_boxes: rows of each padded target (more objects in an image are refused).
        val_fraction / test_fraction / seed: the drawn splits.
        cache: optional folder for a disk cache of decoded examples.
        max_pixels: larger images are refused.
    """
    _check_common(root, channels, max_boxes)
    splits = [s for s in SPLIT_NAMES if os.path.isdir(os.path.join(root, s))]
    folders = {s: os.path.join(root, s) for s in splits} if splits else {"all": root}
    parts, classes = {}, None
    for split, folder in folders.items():
        path = os.path.join(folder, annotations or "annotations.json")
        if annotations and not splits:
            path = os.path.join(root, annotations)
        if not os.path.isfile(path):
            raise DataError(f"coco folder {root!r}: no annotation file {path}")
        items, cats = read_coco(path, os.path.join(folder, images))
        if classes is not None and cats != classes:
            raise DataError(f"{path}: categories {cats} differ from those of the other splits "
                            f"{classes}")
        classes = cats
        parts[split] = items
    if not classes:
        raise DataError(f"coco folder {root!r}: no categories")
    return _finish("coco_folder", root, parts, [n for _, n in classes], max_boxes, image_size,
                   channels, val_fraction, test_fraction, seed, cache, max_pixels,
                   {"category_ids": [c for c, _ in classes]})


# --- Pascal VOC -----------------------------------------------------------------------------
def _voc_number(node, tag, where):
    child = node.find(tag)
    try:
        return float(child.text)
    except (AttributeError, TypeError, ValueError):
        raise DataError(f"{where}: <{tag}> is missing or not a number") from None


def read_voc_xml(path, images_dir):
    """``(item, [(name, (y_min, x_min, y_max, x_max) pixel edges, where)])`` of one VOC file."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as e:
        raise DataError(f"{path}: malformed XML ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    node = tree.getroot()
    filename = node.findtext("filename")
    if not filename or not filename.strip():
        raise DataError(f"{path}: no <filename>")
    size = node.find("size")
    declared = None
    if size is not None and size.find("width") is not None:
        declared = (int(_voc_number(size, "width", f"{path}: <size>")),
                    int(_voc_number(size, "height", f"{path}: <size>")))
    item = Item(os.path.join(images_dir, filename.strip()), path, declared)
    objects = []
    for k, obj in enumerate(node.findall("object")):
        where = f"{path}: object {k}"
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise DataError(f"{where}: no <name>")
        box = obj.find("bndbox")
        if box is None:
            raise DataError(f"{where} ({name}): no <bndbox>")
        x0, y0, x1, y1 = (_voc_number(box, t, f"{where} ({name})")
                          for t in ("xmin", "ymin", "xmax", "ymax"))
        objects.append((name, (y0 - 1, x0 - 1, y1, x1), f"{where} ({name})"))
    return item, objects


@register_source("voc_folder", task="detection")
def load_voc_folder(root, class_names=None, image_size=None, channels=3,
                    max_boxes=DEFAULT_MAX_BOXES, val_fraction=0.15, test_fraction=0.15, seed=0,
                    cache=None, max_pixels=MAX_PIXELS):
    """A Pascal VOC folder (layout in the module docstring); arguments as ``coco_folder``,
    ``class_names`` fixes the classes (an object named otherwise is refused)."""
    _check_common(root, channels, max_boxes)
    ann_dir, images_dir = os.path.join(root, "Annotations"), os.path.join(root, "JPEGImages")
    if not os.path.isdir(ann_dir):
        raise DataError(f"voc folder {root!r}: no Annotations/ folder")
    paths = sorted(os.path.join(ann_dir, f) for f in os.listdir(ann_dir) if f.endswith(".xml"))
    problems, read, by_file = [], {}, {}
    for path in paths:
        try:
            item, objects = read_voc_xml(path, images_dir)
        except DataError as e:
            problems.append(str(e))
            continue
        if item.image in by_file:
            problems.append(f"{path}: duplicate image {os.path.basename(item.image)!r} (also "
                            f"in {by_file[item.image]})")
            continue
        by_file[item.image] = path
        read[os.path.splitext(os.path.basename(path))[0]] = (item, objects)
    raise_all(problems, f"voc folder {root}")
    labels = os.path.join(root, "labels.txt")
    from_data = class_names is None and not os.path.isfile(labels)
    if class_names is None:
        class_names = read_class_names(labels) if os.path.isfile(labels) else sorted(
            {name for _, objects in read.values() for name, _, _ in objects})
    if not class_names:
        raise DataError(f"voc folder {root!r}: no objects and no class names (pass "
                        f"--dataset-arg class_names=[...])")
    class_of = {n: k for k, n in enumerate(class_names)}
    for stem, (item, objects) in read.items():
        for name, coords, where in objects:
            if name not in class_of:
                problems.append(f"{where}: class {name!r} is not one of {list(class_names)}")
                continue
            item.objects.append(("pixel", coords, class_of[name], where))
    raise_all(problems, f"voc folder {root}")
    sets = os.path.join(root, "ImageSets", "Main")
    parts = {}
    for split in SPLIT_NAMES:
        listed = os.path.join(sets, f"{split}.txt")
        if os.path.isfile(listed):
            ids = read_class_names(listed)
            unknown = [i for i in ids if i not in read]
            if unknown:
                raise DataError(f"{listed}: ids without an annotation file in {ann_dir}: "
                                f"{unknown[:10]}")
            parts[split] = [read[i][0] for i in ids]
    if not parts:
        parts = {"all": [item for item, _ in read.values()]}
    return _finish("voc_folder", root, parts, class_names, max_boxes, image_size, channels,
                   val_fraction, test_fraction, seed, cache, max_pixels,
                   {"class_names_from": "objects" if from_data else "given"})


# --- YOLO -----------------------------------------------------------------------------------
def _yolo_names(root):
    classes = os.path.join(root, "classes.txt")
    if os.path.isfile(classes):
        return read_class_names(classes)
    data = os.path.join(root, "data.yaml")
    if os.path.isfile(data):
        import yaml

        try:
            with open(data, encoding="utf-8") as f:
                names = (yaml.safe_load(f) or {}).get("names")
        except yaml.YAMLError as e:
            raise DataError(f"{data}: malformed YAML ({e})") from None
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names)]
        if isinstance(names, list) and names:
            return [str(n) for n in names]
        raise DataError(f"{data}: no names list")
    return None


def read_yolo_labels(path, num_classes):
    """Objects of one YOLO label file (relative y_min, x_min, y_max, x_max); errors name the
    file and line."""
    objects = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        fields = line.split()
        if len(fields) != 5:
            raise DataError(f"{where}: {len(fields)} fields, expected 5 (class x_center "
                            f"y_center width height)")
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise DataError(f"{where}: {line.strip()!r} is not five numbers") from None
        cls, cx, cy, w, h = values
        objects.append(("relative", (cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2),
                        int(cls) if cls == int(cls) else cls, where))
    return objects


def _yolo_pairs(images_dir, labels_dir, num_classes, root):
    if not os.path.isdir(images_dir):
        raise DataError(f"yolo folder {root!r}: no {images_dir} folder")
    problems, items, stems = [], [], {}
    for fname in sorted(os.listdir(images_dir)):
        if fname.startswith("."):
            continue
        path = os.path.join(images_dir, fname)
        if not fname.lower().endswith(EXTENSIONS):
            problems.append(f"{path}: not an image file (expected one of {EXTENSIONS})")
            continue
        stem = os.path.splitext(fname)[0]
        if stem in stems:
            problems.append(f"{path}: duplicate image id {stem!r} (also {stems[stem]})")
            continue
        stems[stem] = path
        label = os.path.join(labels_dir, stem + ".txt")
        item = Item(path, label if os.path.isfile(label) else path)
        if os.path.isfile(label):
            try:
                item.objects = read_yolo_labels(label, num_classes)
            except DataError as e:
                problems.append(str(e))
        items.append(item)
    if os.path.isdir(labels_dir):
        for fname in sorted(os.listdir(labels_dir)):
            if fname.endswith(".txt") and os.path.splitext(fname)[0] not in stems:
                problems.append(f"{os.path.join(labels_dir, fname)}: no image "
                                f"{os.path.splitext(fname)[0]}.* in {images_dir}")
    raise_all(problems, f"yolo folder {root}")
    return items


@register_source("yolo_folder", task="detection")
def load_yolo_folder(root, class_names=None, image_size=None, channels=3,
                     max_boxes=DEFAULT_MAX_BOXES, val_fraction=0.15, test_fraction=0.15, seed=0,
                     cache=None, max_pixels=MAX_PIXELS):
    """A YOLO txt folder (layout in the module docstring); arguments as ``coco_folder``."""
    _check_common(root, channels, max_boxes)
    class_names = list(class_names) if class_names else _yolo_names(root)
    if not class_names:
        raise DataError(f"yolo folder {root!r}: class names are required: write "
                        f"{os.path.join(root, 'classes.txt')} (one name a line), data.yaml "
                        f"with names, or pass --dataset-arg class_names=[...]")
    layouts = {s: (os.path.join(root, s, "images"), os.path.join(root, s, "labels"))
               for s in SPLIT_NAMES if os.path.isdir(os.path.join(root, s, "images"))}
    if not layouts:
        layouts = {s: (os.path.join(root, "images", s), os.path.join(root, "labels", s))
                   for s in SPLIT_NAMES if os.path.isdir(os.path.join(root, "images", s))}
    if not layouts:
        layouts = {"all": (os.path.join(root, "images"), os.path.join(root, "labels"))}
    parts = {s: _yolo_pairs(i, l, len(class_names), root) for s, (i, l) in layouts.items()}
    return _finish("yolo_folder", root, parts, class_names, max_boxes, image_size, channels,
                   val_fraction, test_fraction, seed, cache, max_pixels, {})
