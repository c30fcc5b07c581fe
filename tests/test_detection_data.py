"""Detection data: the embedded ``shapes_detection`` set, COCO / VOC / YOLO folders (the same
images and boxes through each format, and malformed inputs each refused naming the file and
the problem), TFRecords, tfds (mock data) and box-aware augmentation that never lets a box
drift from its object."""

import functools
import json
import os

import numpy as np
import pytest
from PIL import Image

from kerascv_apps.data import DataError, load_dataset, make_pipeline
from kerascv_apps.data.sources.shapes_detection import CLASS_NAMES, generate
from kerascv_apps.models.detection.heads import PAD_CLASS
from kerascv_apps.tasks import get_task

SIZE = 40


def real(boxes):
    return boxes[boxes[:, 4] != PAD_CLASS]


def test_shapes_detection_is_deterministic_with_objects_and_background_images():
    a_images, a_boxes = generate(40, 48, seed=3)
    b_images, b_boxes = generate(40, 48, seed=3)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_boxes, b_boxes)
    counts = (a_boxes[..., 4] >= 0).sum(1)
    assert (counts == 0).any() and (counts >= 2).any()  # background images, several objects
    classes = a_boxes[..., 4][a_boxes[..., 4] >= 0]
    assert set(classes.astype(int)) == {0, 1, 2}
    rows = a_boxes[a_boxes[..., 4] >= 0]
    assert (rows[:, 2] > rows[:, 0]).all() and (rows[:, 3] > rows[:, 1]).all()
    assert rows[:, :4].min() >= 0 and rows[:, :4].max() <= 1


def test_shapes_detection_splits():
    splits = load_dataset("shapes_detection", image_size=32, num_train=12, num_val=3,
                          num_test=4)
    assert splits.task == "detection" and splits.class_names == CLASS_NAMES
    assert splits.sizes == {"train": 12, "val": 3, "test": 4}
    image, boxes = next(splits.train.as_numpy_iterator())
    assert image.shape == (32, 32, 3) and boxes.shape == (splits.info["max_boxes"], 5)
    with pytest.raises(DataError, match="num_val"):
        load_dataset("shapes_detection", num_val=0)


# --- the same data written in the three formats ----------------------------------------------
@functools.lru_cache(maxsize=None)
def _examples(n=8):
    images, boxes = generate(n, SIZE, seed=11)
    return [(images[i].astype(np.uint8), real(boxes[i])) for i in range(n)]


def _pixels(row):
    y0, x0, y1, x1 = (float(v) * SIZE for v in row[:4])
    return y0, x0, y1, x1


def write_coco(root, examples):
    os.makedirs(os.path.join(root, "images"))
    images, annotations = [], []
    for i, (image, boxes) in enumerate(examples):
        name = f"img{i}.png"
        Image.fromarray(image).save(os.path.join(root, "images", name))
        images.append({"id": 100 + i, "file_name": name, "width": SIZE, "height": SIZE})
        for row in boxes:
            y0, x0, y1, x1 = _pixels(row)
            annotations.append({"id": len(annotations) + 1, "image_id": 100 + i,
                                "category_id": [3, 7, 9][int(row[4])], "iscrowd": 0,
                                "bbox": [x0, y0, x1 - x0, y1 - y0]})
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": c, "name": n} for c, n in zip([3, 7, 9], CLASS_NAMES)]}
    with open(os.path.join(root, "annotations.json"), "w") as f:
        json.dump(data, f)
    return data


def write_voc(root, examples):
    os.makedirs(os.path.join(root, "Annotations"))
    os.makedirs(os.path.join(root, "JPEGImages"))
    for i, (image, boxes) in enumerate(examples):
        Image.fromarray(image).save(os.path.join(root, "JPEGImages", f"img{i}.png"))
        objects = "".join(
            f"<object><name>{CLASS_NAMES[int(r[4])]}</name><bndbox><xmin>{x0 + 1:g}</xmin>"
            f"<ymin>{y0 + 1:g}</ymin><xmax>{x1:g}</xmax><ymax>{y1:g}</ymax></bndbox></object>"
            for r in boxes for y0, x0, y1, x1 in [_pixels(r)])
        with open(os.path.join(root, "Annotations", f"img{i}.xml"), "w") as f:
            f.write(f"<annotation><filename>img{i}.png</filename><size><width>{SIZE}</width>"
                    f"<height>{SIZE}</height><depth>3</depth></size>{objects}</annotation>")
    with open(os.path.join(root, "labels.txt"), "w") as f:
        f.write("\n".join(CLASS_NAMES))


def write_yolo(root, examples):
    os.makedirs(os.path.join(root, "images"))
    os.makedirs(os.path.join(root, "labels"))
    for i, (image, boxes) in enumerate(examples):
        Image.fromarray(image).save(os.path.join(root, "images", f"img{i}.png"))
        if len(boxes):  # background images: no label file at all
            with open(os.path.join(root, "labels", f"img{i}.txt"), "w") as f:
                for r in boxes:
                    cy, cx = (r[0] + r[2]) / 2, (r[1] + r[3]) / 2
                    f.write(f"{int(r[4])} {cx:.6f} {cy:.6f} {r[3] - r[1]:.6f} "
                            f"{r[2] - r[0]:.6f}\n")
    with open(os.path.join(root, "classes.txt"), "w") as f:
        f.write("\n".join(CLASS_NAMES))


WRITERS = {"coco_folder": write_coco, "voc_folder": write_voc, "yolo_folder": write_yolo}


def _all_examples(splits):
    out = []
    for split in ("train", "val", "test"):
        stream = getattr(splits, split).kcv_stream
        for path, (image, boxes) in zip(stream.files["image"],
                                        getattr(splits, split).as_numpy_iterator()):
            out.append((os.path.basename(path), image, boxes))
    return sorted(out, key=lambda e: e[0])


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_the_three_formats_give_the_same_boxes_and_keep_background_images(kind, tmp_path):
    examples = _examples()
    assert any(len(b) == 0 for _, b in examples)  # a background image is among them
    root = str(tmp_path / kind)
    os.makedirs(root)
    WRITERS[kind](root, examples)
    splits = load_dataset(f"{kind}:{root}", max_boxes=8, val_fraction=0.2, test_fraction=0.2)
    assert splits.class_names == CLASS_NAMES and splits.num_classes == 3
    assert sum(splits.sizes.values()) == len(examples)  # background images are kept
    loaded = _all_examples(splits)
    for (name, image, boxes), (src_image, src_boxes) in zip(loaded, examples):
        assert name == f"img{int(name[3:-4])}.png"
        src_image, src_boxes = examples[int(name[3:-4])]
        np.testing.assert_array_equal(image, src_image.astype(np.float32))
        got = real(boxes)
        assert len(got) == len(src_boxes), name
        np.testing.assert_allclose(got, src_boxes, atol=1e-5)
        assert boxes.shape == (8, 5)


def test_prepare_to_tfrecord_and_back(tmp_path):
    from kerascv_apps.data.tfrecord import prepare_tfrecords

    root = str(tmp_path / "coco")
    os.makedirs(root)
    write_coco(root, _examples())
    splits = load_dataset(f"coco_folder:{root}", max_boxes=8)
    prepare_tfrecords(splits, str(tmp_path / "rec"), log=lambda m: None)
    back = load_dataset(f"tfrecord:{tmp_path / 'rec'}")
    assert back.task == "detection" and back.class_names == CLASS_NAMES
    for split in ("train", "test"):
        a = list(getattr(splits, split).as_numpy_iterator())
        b = list(getattr(back, split).as_numpy_iterator())
        assert len(a) == len(b)
        for (ia, ba), (ib, bb) in zip(a, b):
            np.testing.assert_array_equal(ia, ib)
            np.testing.assert_array_equal(ba, bb)
    # in-memory sources are written too (images as PNG of their pixels)
    mem = load_dataset("shapes_detection", image_size=32, num_train=3, num_val=2, num_test=2)
    prepare_tfrecords(mem, str(tmp_path / "rec2"), log=lambda m: None)
    again = load_dataset(f"tfrecord:{tmp_path / 'rec2'}")
    np.testing.assert_array_equal(next(again.val.as_numpy_iterator())[1],
                                  next(mem.val.as_numpy_iterator())[1])


# --- malformed inputs: each refused naming the file and the problem ---------------------------
def _coco(tmp_path, edit):
    root = str(tmp_path / "c")
    os.makedirs(root)
    data = write_coco(root, _examples(6))
    edit(root, data)
    with open(os.path.join(root, "annotations.json"), "w") as f:
        json.dump(data, f)
    return root


def _first_ann(data):
    return next(a for a in data["annotations"])


MALFORMED_COCO = {
    "not json": (lambda r, d: d.clear(), None, "not valid JSON"),
    "no annotations list": (lambda r, d: d.pop("annotations"), None, "no annotations list"),
    "duplicate image id": (lambda r, d: d["images"][1].update(id=100), None,
                           "duplicate image id 100"),
    "duplicate annotation id": (lambda r, d: d["annotations"][1].update(id=1), None,
                                "duplicate annotation id 1"),
    "unknown category": (lambda r, d: _first_ann(d).update(category_id=5), None,
                         "category_id 5 is not one of the categories"),
    "unknown image": (lambda r, d: _first_ann(d).update(image_id=999), None,
                      "image_id 999 is not in images"),
    "missing image file": (lambda r, d: os.remove(os.path.join(r, "images", "img2.png")),
                           "img2.png", "does not exist"),
    "box outside": (lambda r, d: _first_ann(d).update(bbox=[30, 30, 20, 5]), None,
                    "is outside the 40x40 image"),
    "degenerate box": (lambda r, d: _first_ann(d).update(bbox=[3, 3, 0, 5]), None,
                       "degenerate box"),
    "bad bbox": (lambda r, d: _first_ann(d).update(bbox=[1, 2, 3]), None,
                 "is not [x, y, width, height]"),
    "size mismatch": (lambda r, d: d["images"][0].update(width=64), "img0.png",
                      "declares a 64x40 image but"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_COCO))
def test_malformed_coco_is_refused_naming_file_and_problem(case, tmp_path):
    edit, where, problem = MALFORMED_COCO[case]
    root = _coco(tmp_path, edit)
    if case == "not json":
        with open(os.path.join(root, "annotations.json"), "w") as f:
            f.write('{"images": [')
    with pytest.raises(DataError) as info:
        load_dataset(f"coco_folder:{root}")
    message = str(info.value)
    assert problem in message, message
    assert (where or "annotations.json") in message, message


def _voc(tmp_path, edit):
    root = str(tmp_path / "v")
    os.makedirs(root)
    write_voc(root, _examples(6))
    edit(root)
    return root


def _rewrite(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def _xml_with_object(root):
    for i in range(6):
        path = os.path.join(root, "Annotations", f"img{i}.xml")
        with open(path) as f:
            if "<object>" in f.read():
                return path
    raise AssertionError("no object")


MALFORMED_VOC = {
    "malformed xml": (lambda r: _rewrite(_xml_with_object(r), "</annotation>", ""),
                      "malformed XML"),
    "unknown class": (lambda r: _rewrite(_xml_with_object(r), "<name>", "<name>x"),
                      "is not one of"),
    "box outside": (lambda r: _rewrite(_xml_with_object(r), "<xmax>", "<xmax>9"),
                    "is outside the 40x40 image"),
    "missing bndbox value": (lambda r: _rewrite(_xml_with_object(r), "<ymin>", "<ymin>a"),
                             "<ymin> is missing or not a number"),
    "duplicate image": (lambda r: _rewrite(os.path.join(r, "Annotations", "img0.xml"),
                                           "<filename>img0.png", "<filename>img5.png"), None),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_VOC))
def test_malformed_voc_is_refused_naming_file_and_problem(case, tmp_path):
    edit, problem = MALFORMED_VOC[case]
    root = _voc(tmp_path, edit)
    with pytest.raises(DataError) as info:
        load_dataset(f"voc_folder:{root}")
    message = str(info.value)
    assert ".xml" in message, message
    if case == "duplicate image":
        assert "duplicate image 'img5.png'" in message, message
    else:
        assert problem in message, message


def _yolo(tmp_path, edit):
    root = str(tmp_path / "y")
    os.makedirs(root)
    write_yolo(root, _examples(6))
    edit(root)
    return root


def _label_file(root):
    return os.path.join(root, "labels", sorted(os.listdir(os.path.join(root, "labels")))[0])


def _append(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


MALFORMED_YOLO = {
    "wrong field count": (lambda r: _append(_label_file(r), "0 0.5 0.5 0.1"), "4 fields"),
    "unknown class id": (lambda r: _append(_label_file(r), "3 0.5 0.5 0.1 0.1"),
                         "class id 3 is not one of the 3 classes"),
    "box outside": (lambda r: _append(_label_file(r), "0 0.95 0.5 0.2 0.1"),
                    "is outside the image"),
    "degenerate box": (lambda r: _append(_label_file(r), "0 0.5 0.5 0 0.1"), "degenerate box"),
    "not numbers": (lambda r: _append(_label_file(r), "0 a 0.5 0.1 0.1"), "is not five numbers"),
    "label without image": (lambda r: _append(os.path.join(r, "labels", "ghost.txt"),
                                              "0 0.5 0.5 0.1 0.1"), "no image ghost.*"),
    "duplicate image id": (lambda r: Image.new("RGB", (SIZE, SIZE)).save(
        os.path.join(r, "images", "img0.jpg")), "duplicate image id 'img0'"),
    "too many objects": (lambda r: [_append(_label_file(r), "0 0.5 0.5 0.1 0.1")
                                    for _ in range(40)], "more than max_boxes=32"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_YOLO))
def test_malformed_yolo_is_refused_naming_file_and_problem(case, tmp_path):
    edit, problem = MALFORMED_YOLO[case]
    root = _yolo(tmp_path, edit)
    with pytest.raises(DataError) as info:
        load_dataset(f"yolo_folder:{root}")
    message = str(info.value)
    assert problem in message, message
    assert os.path.join(root, "labels") in message or os.path.join(root, "images") in message


# --- tfds (mock data, offline) ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["voc", "coco/2017"])
def test_tfds_detection_datasets_with_mock_data(name):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        splits = load_dataset(f"tfds:{name}", image_size=32)
    assert splits.task == "detection"
    assert splits.num_classes == (20 if name == "voc" else 80)
    image, boxes = next(splits.train.as_numpy_iterator())
    assert image.shape == (32, 32, 3) and boxes.shape == (100, 5)
    rows = real(boxes)
    assert ((rows[:, 4] >= 0) & (rows[:, 4] < splits.num_classes)).all()
    assert rows[:, :4].min() >= 0 and rows[:, :4].max() <= 1


# --- box-aware augmentation ------------------------------------------------------------------
def _rectangles(n=16, size=64, seed=0):
    """Images with one filled rectangle (pixel-aligned) each, and its box."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.float32)
    boxes = np.zeros((n, 4, 5), np.float32)
    boxes[..., 4] = PAD_CLASS
    for i in range(n):
        y0, x0 = rng.integers(4, size // 2, size=2)
        y1, x1 = y0 + rng.integers(12, size // 2), x0 + rng.integers(12, size // 2)
        images[i, y0:y1, x0:x1] = 255.0
        boxes[i, 0] = [y0 / size, x0 / size, y1 / size, x1 / size, 1]
    return images, boxes


@pytest.mark.parametrize("kind, box_augment", [("tf", "full"), ("albumentations", "full"),
                                               ("tf", "flip"), ("albumentations", "flip")])
def test_augmented_boxes_still_cover_their_rectangle_exactly(kind, box_augment):
    import tensorflow as tf

    from kerascv_apps.data.detection import flip_boxes

    images, boxes = _rectangles()
    size = images.shape[1]
    task = get_task("detection", num_classes=3, class_names=CLASS_NAMES,
                    box_augment=box_augment)
    aug = task.augmentation(kind, None)
    if box_augment == "flip":  # flips only: each example is itself or its exact mirror
        ds = make_pipeline(tf.data.Dataset.from_tensor_slices((images, boxes)), 16,
                           training=True, augment=aug, seed=3)
        out_images, out_boxes = (t.numpy() for t in next(iter(ds)))
        mirrored = 0
        for image, target in zip(out_images, out_boxes):  # shuffled: find the source image
            i, flipped = next((i, f) for i in range(len(images)) for f in (False, True)
                              if np.array_equal(image, images[i, :, ::-1] if f else images[i]))
            want = flip_boxes(tf.constant(boxes[i])).numpy() if flipped else boxes[i]
            np.testing.assert_allclose(target, want, atol=1e-6)
            mirrored += flipped
        assert 0 < mirrored < len(images)
    ds = make_pipeline(tf.data.Dataset.from_tensor_slices((images, boxes)), 16, training=True,
                       augment=aug, seed=3)
    moved = 0
    for _ in range(3):  # three epochs: new crops and flips each time
        out_images, out_boxes = (t.numpy() for t in next(iter(ds)))
        for image, target in zip(out_images, out_boxes):
            rows = real(target)
            # the rectangle is the brightest part whatever brightness/contrast did to it
            gray = image.mean(-1)
            filled = gray > (gray.max() + gray.min()) / 2
            if not len(rows):  # mostly cropped away (less than min_visible left)
                continue
            assert len(rows) == 1 and rows[0, 4] == 1
            ys, xs = np.nonzero(filled)
            covered = np.array([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]) / size
            # the box is the rectangle's pixels, to one pixel (edges blend when resized)
            np.testing.assert_allclose(rows[0, :4], covered, atol=1.5 / size)
            moved += not np.allclose(rows[0, :4], boxes[0, 0, :4])
    assert moved  # the augmentation did move boxes


def test_flip_and_crop_arithmetic_is_exact():
    import tensorflow as tf

    from kerascv_apps.data.detection import crop_boxes, flip_boxes

    boxes = tf.constant([[0.1, 0.2, 0.5, 0.6, 2], [0, 0, 0, 0, PAD_CLASS]], tf.float32)
    flipped = flip_boxes(boxes).numpy()
    np.testing.assert_allclose(flipped[0], [0.1, 0.4, 0.5, 0.8, 2], atol=1e-6)
    np.testing.assert_array_equal(flipped[1], [0, 0, 0, 0, PAD_CLASS])
    # crop rows 10..59 and columns 0..49 of a 100x100 image: box pixels 10..50 x 20..60
    cropped = crop_boxes(boxes, 100.0, 100.0, 10, 0, 50, 50, 0.4).numpy()
    np.testing.assert_allclose(cropped[0], [0.0, 0.4, 0.8, 1.0, 2], atol=1e-6)
    # a box less than min_visible inside the crop becomes padding
    gone = crop_boxes(boxes, 100.0, 100.0, 10, 55, 50, 45, 0.4).numpy()
    assert (gone[:, 4] == PAD_CLASS).all()


def test_crops_source_cuts_objects_and_background_of_each_split():
    """``crops:<detection spec>``: a K + 1 class dataset of object crops (the object's class)
    and background windows (class K, overlapping no object), per split, the same every load;
    a non-detection root is refused naming it."""
    from kerascv_apps.data.sources.detection_crops import cut_crops

    images = np.zeros((2, 64, 64, 3), np.float32)
    boxes = np.full((2, 2, 5), PAD_CLASS, np.float32)
    for i, (y, x) in enumerate(((8, 8), (24, 16))):  # one 32 x 32 square each
        images[i, y:y + 32, x:x + 32] = 255.0
        boxes[i, 0] = [y / 64, x / 64, (y + 32) / 64, (x + 32) / 64, 1]
    crops, labels = cut_crops(images, boxes, 3, 8, [32], np.random.default_rng(0))
    assert crops.shape == (8, 8, 8, 3) and list(labels) == [1, 3, 3, 3] * 2
    for crop, label in zip(crops, labels):
        if label == 1:  # the object's crop is the object
            assert crop[2:6, 2:6].min() == 255.0  # edges sample across the border
        else:  # a background window (IoU < 0.3) holds less than half of the object
            assert crop.mean() < 255.0 / 2
    spec = {"image_size": 32, "num_train": 6, "num_val": 2, "num_test": 3}
    splits = load_dataset("crops:shapes_detection", crop=16, windows="12,16",
                          source_kwargs=spec)
    assert splits.task == "classification" and splits.image_shape == (16, 16, 3)
    assert splits.num_classes == len(CLASS_NAMES) + 1
    assert splits.class_names == list(CLASS_NAMES) + ["background"]
    inner = load_dataset("shapes_detection", **spec)
    for split in ("train", "val", "test"):
        targets = [t for _, t in getattr(inner, split).as_numpy_iterator()]
        objects = sum(len(real(t)) for t in targets)
        x, y = (np.stack(a) for a in zip(*getattr(splits, split).as_numpy_iterator()))
        assert (y < len(CLASS_NAMES)).sum() == objects == splits.info["crops"][split]["objects"]
        assert (y == len(CLASS_NAMES)).sum() > 0 and x.shape[1:] == (16, 16, 3)
    again = load_dataset("crops:shapes_detection", crop=16, windows="12,16", source_kwargs=spec)
    for a, b in zip(splits.train.as_numpy_iterator(), again.train.as_numpy_iterator()):
        np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(DataError, match="crops: 'digits' is a classification dataset"):
        load_dataset("crops:digits")
