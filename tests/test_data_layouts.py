"""Dataset layouts on tiny fixtures built in exactly each benchmark's layout."""

from __future__ import annotations

import json

import pytest

from iosm.data.layouts import aim500_records, folder_records, ppm100_records


def test_aim500_layout_with_categories(tmp_path, write_sample):
    for name, ext in (("o_a", ".jpg"), ("o_b", ".png")):
        write_sample(tmp_path, name, "original", "mask", "trimap", image_ext=ext)
    (tmp_path / "usr").mkdir()
    write_sample(tmp_path, "o_a", "usr")  # usr/ holds other things; ignored
    (tmp_path / "aim_category_type.json").write_text(json.dumps({"o_a": {"category": "animal", "type": "NS"}}))
    records = aim500_records(tmp_path)
    assert [r.name for r in records] == ["o_a", "o_b"]
    first, second = records
    assert first.image_path.parent.name == "original" and first.image_path.suffix == ".jpg"
    assert second.image_path.suffix == ".png"
    assert first.alpha_path.parent.name == "mask" and first.trimap_path.parent.name == "trimap"
    assert (first.meta["category"], first.meta["type"]) == ("animal", "NS")
    assert (second.meta["category"], second.meta["type"]) == ("unknown", "unknown")


def test_aim500_missing_alpha_and_trimap_are_recorded_not_raised(tmp_path, write_sample):
    write_sample(tmp_path, "good", "original", "mask", "trimap")
    write_sample(tmp_path, "lonely", "original")
    (lonely,) = [r for r in aim500_records(tmp_path) if r.name == "lonely"]
    assert lonely.alpha_path is None and "lonely" in lonely.meta["missing"]["alpha"]
    assert "trimap" in lonely.meta["missing"]


def test_aim500_without_trimap_folder(tmp_path, write_sample):
    write_sample(tmp_path, "x", "original", "mask")
    (record,) = aim500_records(tmp_path)
    assert record.trimap_path is None and not record.meta


def test_synthetic_set_is_an_aim500_layout(synthetic_root):
    records = aim500_records(synthetic_root)
    assert len(records) == 8
    assert all(r.alpha_path and r.trimap_path and r.meta["type"] in ("SO", "STM", "NS") for r in records)


def test_ppm100_layout(tmp_path, write_sample):
    for name in ("p1", "p2"):
        write_sample(tmp_path, name, "image", "matte")
    records = ppm100_records(tmp_path)
    assert [(r.name, r.alpha_path.parent.name, r.trimap_path) for r in records] == [
        ("p1", "matte", None), ("p2", "matte", None)]


def test_folder_layout_with_custom_names_and_images_only(tmp_path, write_sample):
    write_sample(tmp_path, "u1", "photos", "alphas", "tri")
    records = folder_records(tmp_path, image_dir="photos", alpha_dir="alphas", trimap_dir="tri")
    assert records[0].trimap_path.parent.name == "tri"
    (image_only,) = folder_records(tmp_path, image_dir="photos", alpha_dir=None)
    assert image_only.alpha_path is None and not image_only.meta


def test_root_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        aim500_records(tmp_path / "nowhere")


def test_missing_sub_folder_names_it_and_the_fix(tmp_path, write_sample):
    write_sample(tmp_path, "p1", "image", "matte")
    with pytest.raises(FileNotFoundError, match=r"no original/ folder .*sub-folders here: \['image', 'matte'\]"):
        aim500_records(tmp_path)


def test_empty_image_folder(tmp_path):
    (tmp_path / "image").mkdir()
    (tmp_path / "matte").mkdir()
    with pytest.raises(ValueError, match="no images"):
        ppm100_records(tmp_path)


def test_unset_root_is_a_clear_error():
    with pytest.raises(ValueError, match="data.root"):
        folder_records("???")
