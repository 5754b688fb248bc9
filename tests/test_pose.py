"""utils.pose (8_3): synthetic figures, markers, PCK, grouping, the course checkpoint, BlazePose."""
import numpy as np
import pytest

from utils import checks, heatmaps, pose, weights


def test_figures_are_deterministic_and_keypoints_lie_inside():
    a, ka = pose.figures(12, size=64, seed=7)
    b, kb = pose.figures(12, size=64, seed=7)
    c, _ = pose.figures(12, size=64, seed=8)
    assert a.shape == (12, 64, 64, 3) and a.dtype == np.uint8 and ka.shape == (12, pose.K, 3)
    assert np.array_equal(a, b) and np.array_equal(ka, kb) and not np.array_equal(a, c)
    assert (ka[..., :2] >= 0).all() and (ka[..., :2] < 64).all()
    assert set(np.unique(ka[..., 2])) <= {0.0, 1.0} and ka[..., 2].mean() > 0.8
    # the figure is drawn where its keypoints are: the image changes around them
    plain = pose.figures(1, size=64, seed=7, occlusion=0, clutter=0)[1][0]
    assert plain[:, 2].all()


def test_scenes_hold_several_people_inside_the_image():
    images, people = pose.scenes(6, size=128, seed=3, people=(2, 3))
    again, people2 = pose.scenes(6, size=128, seed=3, people=(2, 3))
    assert images.shape == (6, 128, 128, 3) and np.array_equal(images, again)
    assert [len(p) for p in people] == [len(p) for p in people2]
    for p in people:
        assert 2 <= len(p) <= 3 and p.shape[1:] == (pose.K, 3)
        assert (p[..., :2] >= 0).all() and (p[..., :2] < 128).all()
        heads = p[:, 0, 0]
        assert np.all(np.diff(heads) > 0)  # left to right, one slot each


def test_pck_on_hand_made_cases():
    truth = np.zeros((pose.K, 3))
    truth[:, 0], truth[:, 1], truth[:, 2] = np.linspace(0, 50, pose.K), np.linspace(0, 100, pose.K), 1
    assert pose.reference_size(truth) == pytest.approx(100)
    pred = truth[:, :2].copy()
    assert pose.pck(pred, truth, 0.2) == 1.0
    pred[0] += [0, 19.9]   # within 0.2 * 100
    pred[1] += [20.1, 0]   # just outside
    pred[2] = np.nan       # no prediction counts as wrong
    assert pose.pck(pred, truth, 0.2) == pytest.approx((pose.K - 2) / pose.K)
    assert pose.pck(pred, truth, 0.5) == pytest.approx((pose.K - 1) / pose.K)
    truth[1, 2] = 0        # an invisible keypoint is not counted, whatever the prediction
    assert pose.pck(pred, truth, 0.2) == pytest.approx((pose.K - 2) / (pose.K - 1))
    per = pose.pck(pred[None], truth[None], 0.2, per_keypoint=True)
    assert per.shape == (pose.K,) and per[0] == 1 and per[2] == 0 and np.isnan(per[1])
    with pytest.raises(ValueError, match="same leading shape"):
        pose.pck(pred[:3], truth, 0.2)


def test_markers_are_found_by_thresholding():
    images, kp = pose.figures(20, size=64, seed=4, markers=True)
    found = np.stack([pose.find_markers(im) for im in images])
    assert found.shape == (20, pose.K, 3)
    assert pose.pck(found, kp, 0.05) > 0.9
    # a blank image has no markers
    none = pose.find_markers(np.full((32, 32, 3), 90, np.uint8))
    assert (none[:, 2] == 0).all() and np.isnan(none[:, :2]).all()
    with pytest.raises(ValueError, match="expected"):
        pose.find_markers(np.zeros((8, 8), np.uint8))


def test_grid_mapping_and_targets_decode_back_to_the_keypoints():
    _, kp = pose.figures(4, size=64, seed=11, occlusion=0)
    maps = pose.heatmap_targets(kp, 64)
    assert maps.shape == (4, 16, 16, pose.K) and maps.dtype == np.float32
    for m, k in zip(maps, kp):
        xy, _ = heatmaps.decode_keypoints(m, stride=1)
        err = np.abs(pose.from_grid(xy) - k[:, :2])
        assert err.max() <= 2.0 + 1e-6        # at worst half a cell (a peak in a border cell is not refined)
        assert np.median(err) < 0.5           # the parabola recovers the rest far below one cell (4 px)
    assert np.allclose(pose.from_grid(pose.to_grid([[5.0, 9.0]])), [[5.0, 9.0]])


def test_bottom_up_groups_two_people_from_exact_heatmaps_and_scene_pck():
    _, people = pose.scenes(3, size=128, seed=5, people=(2, 2), occlusion=0)
    for truth in people:
        maps = np.max([pose.heatmap_targets(p[None], 128)[0] for p in truth], axis=0)
        grouped = pose.bottom_up(maps)
        assert grouped.shape == (2, pose.K, 3)
        assert pose.scene_pck([grouped], [truth], 0.1) == 1.0
    assert pose.scene_pck([np.zeros((0, pose.K, 3))], [people[0]], 0.2) == 0.0   # everyone missed


def test_top_down_maps_crops_back_to_the_image():
    class Oracle:   # a "network" that returns the exact heatmaps of the crop it is given
        def __init__(self, truth, boxes):
            self.crops = [self._crop_kp(t, b) for t, b in zip(truth, boxes)]

        @staticmethod
        def _crop_kp(t, b):
            side = max(b[2] - b[0], b[3] - b[1])
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            out = t.copy()
            out[:, 0] = (t[:, 0] + 0.5 - (cx - side / 2)) * 64 / side - 0.5
            out[:, 1] = (t[:, 1] + 0.5 - (cy - side / 2)) * 64 / side - 0.5
            return out

        def predict(self, x, batch_size=None, verbose=0):
            return pose.heatmap_targets(np.stack(self.crops[:len(x)]), 64)

    images, people = pose.scenes(1, size=128, seed=9, occlusion=0)
    boxes = pose.person_boxes(people[0])
    found = pose.top_down(Oracle(people[0], boxes), images[0], boxes)
    assert found.shape == (len(people[0]), pose.K, 3)
    assert np.abs(found[..., :2] - people[0][..., :2]).max() < 2.0


def test_the_decode_heatmap_check_accepts_the_reference_and_refuses_argmax(capsys):
    from utils.checks.pose import _ref_decode_heatmap

    assert checks.decode_heatmap(_ref_decode_heatmap) is _ref_decode_heatmap

    def argmax_only(h):
        y, x = np.unravel_index(np.argmax(h), h.shape)
        return x, y

    assert checks.decode_heatmap(argmax_only) is _ref_decode_heatmap
    assert "cells away" in capsys.readouterr().out


@pytest.mark.skipif(not pose.CHECKPOINT.exists(), reason=f"{pose.CHECKPOINT} not trained yet (python -m utils.pose train)")
def test_course_checkpoint_loads_and_beats_the_short_run_target():
    from utils import course

    model = pose.build_model(64, width=course.knobs("8_3")["checkpoint_width"])
    model.load_weights(pose.CHECKPOINT)
    images, kp = pose.figures(60, size=64, seed=2)
    assert pose.pck(pose.predict(model, images), kp, 0.2) > 0.6


@pytest.mark.skipif(not weights.available(pose.BLAZEPOSE_FILE),
                    reason=f"{pose.BLAZEPOSE_FILE} not fetched (python -m utils.weights fetch --fast)")
def test_blazepose_runs_on_a_real_photo():
    from utils import data

    image = data.photo("grace_hopper")
    out = pose.blazepose(image, pose.portrait_box(image))
    assert out["landmarks"].shape == (33, 2) and out["visibility"].shape == (33,) and out["z"].shape == (33,)
    assert out["score"] > 0.5
    nose = out["landmarks"][0]
    assert 0 <= nose[0] < image.shape[1] and 0 <= nose[1] < image.shape[0]
    shoulders = out["landmarks"][[11, 12]]
    assert shoulders[0, 0] > shoulders[1, 0]   # the person's left shoulder is on the picture's right
    with pytest.raises(ValueError, match="uint8"):
        pose.blazepose(image.astype(np.float32))


def test_train_checkpoint_saves_atomically(tmp_path, monkeypatch):
    from tests.saving import assert_failed_save_keeps_old_file

    out = pose.train_checkpoint(tmp_path / "kp.weights.h5", images=16, epochs=1, width=4, size=32, batch_size=8)
    model = pose.build_model(32, width=4)
    model.load_weights(out)  # a complete Keras weights file, under the name asked for
    assert [p.name for p in tmp_path.iterdir()] == ["kp.weights.h5"]
    assert_failed_save_keeps_old_file(
        lambda p: pose.train_checkpoint(p, images=16, epochs=1, width=4, size=32, batch_size=8), out, monkeypatch)
