"""Human3.6M evaluation protocol of train.py (spec 02 §7.6): P1 (MPJPE) and P2 (P-MPJPE) per action."""
import numpy as np
import prettytable
import torch

from lib.model.loss import mpjpe, p_mpjpe
from lib.utils.utils_data import lift_pose3d

# test videos excluded from the evaluation by the original (source without its camera suffix)
BLOCK_LIST = ['s_09_act_05_subact_02', 's_09_act_10_subact_02', 's_09_act_13_subact_01']


@torch.no_grad()
def predict_pose3d(args, model, inp):
    """:func:`lift_pose3d` of one batch of normalised 2D test clips, as a NumPy array."""
    device = next(model.parameters()).device
    return lift_pose3d(args, model, inp.to(device)).float().cpu().numpy()


def h36m_errors(results_all, datareader):
    """Per-action P1/P2 (mm) of normalised test-clip predictions ``(n_clips, T, 17, 3)``.

    ``results_all`` is de-normalised and scaled to millimetres IN PLACE (as the original). Every
    covered test frame counts once (overlapping clips are averaged per frame); frames of blocked
    videos and dropped video tails are excluded; action means are unweighted.
    Returns ``dict(e1, e2, action_names, P1, P2, results_all)``.
    """
    results_all = datareader.denormalize(results_all)
    _, split_id_test = datareader.get_split_id()
    actions = np.array(datareader.get_test_frames('action'))
    factors = np.array(datareader.get_test_frames('2.5d_factor'))
    gts = np.array(datareader.get_test_frames('joints_2.5d_image'))
    sources = np.array(datareader.get_test_frames('source'))
    num_test_frames = len(actions)
    frames = np.array(range(num_test_frames))
    action_clips = actions[split_id_test]
    factor_clips = factors[split_id_test]
    source_clips = sources[split_id_test]
    frame_clips = frames[split_id_test]
    gt_clips = gts[split_id_test]
    assert len(results_all) == len(action_clips), (f"{len(results_all)} predictions for "
                                                   f"{len(action_clips)} test clips")
    e1_all = np.zeros(num_test_frames)
    e2_all = np.zeros(num_test_frames)
    oc = np.zeros(num_test_frames)
    action_names = sorted(set(datareader.get_test_frames('action')))
    results = {name: [] for name in action_names}
    results_procrustes = {name: [] for name in action_names}
    for idx in range(len(action_clips)):
        source = source_clips[idx][0][:-6]
        if source in BLOCK_LIST:
            continue
        frame_list = frame_clips[idx]
        factor = factor_clips[idx][:, None, None]
        gt = gt_clips[idx]
        pred = results_all[idx]
        pred *= factor  # in place, as the original (results_all is returned scaled)
        pred = pred - pred[:, 0:1, :]
        gt = gt - gt[:, 0:1, :]
        # NumPy fancy-index "+=": a frame repeated inside one clip is counted once
        e1_all[frame_list] += mpjpe(pred, gt)
        e2_all[frame_list] += p_mpjpe(pred, gt)
        oc[frame_list] += 1
    for idx in range(num_test_frames):
        if e1_all[idx] > 0:
            results[actions[idx]].append(e1_all[idx] / oc[idx])
            results_procrustes[actions[idx]].append(e2_all[idx] / oc[idx])
    final_result = [np.mean(results[name]) for name in action_names]
    final_result_procrustes = [np.mean(results_procrustes[name]) for name in action_names]
    return dict(e1=np.mean(np.array(final_result)), e2=np.mean(np.array(final_result_procrustes)),
                action_names=action_names, P1=final_result, P2=final_result_procrustes, results_all=results_all)


def format_h36m_table(errors):
    """The original's printout: per-action table, then the two protocol means."""
    table = prettytable.PrettyTable()
    table.field_names = ['test_name'] + errors['action_names']
    table.add_row(['P1'] + list(errors['P1']))
    table.add_row(['P2'] + list(errors['P2']))
    return "\n".join([str(table),
                      f"Protocol #1 Error (MPJPE): {errors['e1']} mm",
                      f"Protocol #2 Error (P-MPJPE): {errors['e2']} mm",
                      "----------"])


def markdown_table(scores, first="method"):
    """Per-action P1 / P2 of ``{row name: h36m_errors(...)}``; ``first``: the first column's header."""
    actions = next(iter(scores.values()))["action_names"]
    lines = [f"| {first} | " + " | ".join(f"{a} P1 / P2" for a in actions) + " | mean P1 | mean P2 |",
             "|---|" + "---|" * (len(actions) + 2)]
    for name, e in scores.items():
        cells = [f"{p1:.1f} / {p2:.1f}" for p1, p2 in zip(e["P1"], e["P2"])]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {e['e1']:.1f} | {e['e2']:.1f} |")
    return "\n".join(lines)
