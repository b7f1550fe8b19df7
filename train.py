"""Pretraining and 3D pose training/evaluation on Human3.6M.

    python train.py --config configs/pose3d/MB_ft_h36m.yaml --pretrained checkpoint/pretrain/MB_release \
        --checkpoint checkpoint/pose3d/FT_MB_release_MB_ft_h36m
    python train.py --config configs/pose3d/MB_ft_h36m.yaml --evaluate checkpoint/pose3d/.../best_epoch.bin
    torchrun --nproc_per_node 2 train.py --config ...      # several GPUs / processes

See docs/pose3d.md and docs/pretrain.md.
"""

import torch

from lib.data.augmentation import Augmenter2D
from lib.data.datareader_h36m import DataReaderH36M
from lib.data.dataset_motion_2d import InstaVDataset2D, PoseTrackDataset2D
from lib.data.dataset_motion_3d import MotionDataset3D
from lib.model.loss import (loss_2d_weighted, loss_angle, loss_angle_velocity, loss_limb_gt, loss_limb_var,
                            loss_mpjpe, loss_velocity, n_mpjpe)
from lib.utils import checkpoint as checkpoint_io
from lib.utils.checkpoint import load_model_weights
from lib.utils.config_schema import TRAIN_POSE3D, validate_config
from lib.utils.cli import run_cli
from lib.utils.errors import DataError
from lib.utils.eval_h36m import format_h36m_table, h36m_errors, predict_pose3d
from lib.utils.learning import load_backbone, partial_train_layers
from lib.utils.trainer import (Task, TrainPass, finetuning_from_pretrained, load_finetune_state, run,
                               training_checkpoint)
from lib.utils.trainer import parse_args as _parse_args
from lib.utils.trainer import set_random_seed  # noqa: F401  (public name of the original script)

# 3D loss terms: (meter name, config weight, loss of (pred, gt)); the MPJPE weight is fixed to 1
LOSSES_3D = [
    ("3d_pos", None, loss_mpjpe),
    ("3d_scale", "lambda_scale", n_mpjpe),
    ("3d_velocity", "lambda_3d_velocity", loss_velocity),
    ("lv", "lambda_lv", lambda pred, gt: loss_limb_var(pred)),
    ("lg", "lambda_lg", loss_limb_gt),
    ("angle", "lambda_a", loss_angle),
    ("angle_velocity", "lambda_av", loss_angle_velocity),
]
METER_NAMES = ('3d_pos', '3d_scale', '2d_proj', 'lg', 'lv', 'total', '3d_velocity', 'angle', 'angle_velocity')


def parse_args(argv=None):
    return _parse_args(__doc__.split("\n\n")[0], argv)


def save_checkpoint(chk_path, epoch, lr, optimizer, model_pos, min_loss):
    """Write a train.py checkpoint (the original's function; the engine writes the same layout)."""
    print('Saving checkpoint to', chk_path)
    checkpoint_io.save_checkpoint(chk_path, training_checkpoint(epoch, lr, optimizer, model_pos, 'model_pos',
                                                                'min_loss', min_loss))


def pose3d_loss(args, model_pos, batch_input, batch_gt, has_3d, has_gt):
    """Loss of one batch and the values of its terms (spec 02 §7.4)."""
    with torch.no_grad():
        if args.no_conf:
            batch_input = batch_input[:, :, :, :2]
        if not has_3d:
            conf = batch_input[:, :, :, 2:].clone()  # 2D loss weights, taken before corruption
        if args.rootrel:
            batch_gt = batch_gt - batch_gt[:, :, 0:1, :]
        else:
            batch_gt[:, :, :, 2] = batch_gt[:, :, :, 2] - batch_gt[:, 0:1, 0:1, 2]
        if args.get('mask') or args.noise:
            batch_input = args.aug.augment2D(batch_input, noise=(args.noise and has_gt), mask=args.mask)
    predicted_3d_pos = model_pos(batch_input).float()  # losses in float32, also under --amp
    if has_3d:
        terms = {name: fn(predicted_3d_pos, batch_gt) for name, _, fn in LOSSES_3D}
        total = sum(terms[name] * (1 if key is None else args[key]) for name, key, _ in LOSSES_3D)
    else:
        terms = {'2d_proj': loss_2d_weighted(predicted_3d_pos, batch_gt, conf)}
        total = terms['2d_proj']
    terms['total'] = total
    return total, terms


def train_epoch(args, model_pos, train_loader, losses, optimizer, has_3d, has_gt):
    """One pass over ``train_loader`` (the original's function; the engine uses ``pose3d_loss`` directly)."""
    model_pos.train()
    device = next(model_pos.parameters()).device
    for batch_input, batch_gt in train_loader:
        loss, terms = pose3d_loss(args, model_pos, batch_input.to(device), batch_gt.to(device), has_3d, has_gt)
        optimizer.zero_grad()
        for name, value in terms.items():
            losses[name].update(value.item(), batch_input.shape[0])
        loss.backward()
        optimizer.step()


def evaluate(args, model_pos, test_loader, datareader):
    """H36M protocol on ``test_loader`` batches of ``(2D input, 3D label)`` test clips in order.

    Prints the per-action table; returns ``(e1, e2, results_all)`` as the original.
    """
    import numpy as np
    print('INFO: Testing')
    model_pos.eval()
    results_all = np.concatenate([predict_pose3d(args, model_pos, batch_input) for batch_input, _ in test_loader])
    errors = h36m_errors(results_all, datareader)
    print(format_h36m_table(errors))
    return errors['e1'], errors['e2'], errors['results_all']


class Pose3DTask(Task):
    model_key = 'model_pos'
    best_key = 'min_loss'
    best_initial = 100000
    higher_is_better = False
    lr_as_list = False
    auto_resume_in_finetune = False
    meter_names = METER_NAMES

    def __init__(self, args, opts, runtime):
        super().__init__(args, opts, runtime)
        self.training = not opts.evaluate
        if self.training:
            args.mask = (args.mask_ratio > 0 and args.mask_T_ratio > 0)
            if args.mask or args.noise:
                args.aug = Augmenter2D(args)
            loader = lambda ds: runtime.loader(ds, args.batch_size, shuffle=True, original_workers=12)
            self.train_loader_3d = loader(MotionDataset3D(args, args.subset_list, 'train'))
            if args.train_2d:
                self.posetrack_loader_2d = loader(PoseTrackDataset2D(**self._path_kwargs('posetrack_root')))
                self.instav_loader_2d = loader(InstaVDataset2D(**self._path_kwargs('insta_root')))
        self.test_dataset = self.datareader = None
        if not (self.training and args.no_eval):
            self.test_dataset = MotionDataset3D(args, args.subset_list, 'test')
            self.datareader = DataReaderH36M(n_frames=args.clip_len, sample_stride=args.sample_stride,
                                             data_stride_train=args.data_stride, data_stride_test=args.clip_len,
                                             dt_root=args.get('dt_root', 'data/motion3d'), dt_file=args.dt_file)
            n_clips = len(self.datareader.get_split_id()[1])
            if n_clips != len(self.test_dataset):
                raise DataError(f"{len(self.test_dataset)} test clip files under {args.data_root} but {n_clips} test "
                                f"clips in {args.dt_file} with clip_len {args.clip_len}: re-create the clips with "
                                f"tools/convert_h36m.py (docs/pose3d.md)")

    def _path_kwargs(self, key):
        # optional config keys to move the 2D datasets away from their default folders
        return {'data_root': self.args[key]} if key in self.args else {}

    def build_model(self):
        args, opts = self.args, self.opts
        model = load_backbone(args)
        if finetuning_from_pretrained(args, opts):
            state, path = load_finetune_state(opts)
            self.runtime.print('Loading checkpoint', path)
            load_model_weights(model, state, path)
        if args.partial_train:
            model = partial_train_layers(model, args.partial_train)
        return model

    def param_groups(self, model):
        return [{'params': [p for p in model.parameters() if p.requires_grad], 'lr': self.args.learning_rate}]

    def train_passes(self, epoch):
        passes = []
        if self.args.train_2d and epoch >= self.args.pretrain_3d_curriculum:
            passes += [TrainPass('PoseTrack', self.posetrack_loader_2d, has_3d=False, has_gt=True),
                       TrainPass('InstaVariety', self.instav_loader_2d, has_3d=False, has_gt=False)]
        passes.append(TrainPass('3D', self.train_loader_3d, has_3d=True, has_gt=True))
        return passes

    def train_step(self, model, batch, meters, has_3d, has_gt):
        batch_input, batch_gt = (t.to(self.runtime.device) for t in batch)
        loss, terms = pose3d_loss(self.args, model, batch_input, batch_gt, has_3d, has_gt)
        for name, value in terms.items():
            meters[name].update(value.item(), batch_input.shape[0])
        return loss

    def evaluate(self, model):
        if self.training and self.args.no_eval:
            return None
        self.runtime.print('INFO: Testing')
        model.eval()
        results = self.runtime.predict(self.test_dataset, self.args.batch_size,
                                       lambda batch: {'pred': predict_pose3d(self.args, model, batch[0])}, workers=12)
        errors = h36m_errors(results['pred'], self.datareader)
        self.runtime.print(format_h36m_table(errors))
        return dict(errors, metric=errors['e1'])

    def evaluation_report(self, metrics):
        return {'checkpoint': self.opts.evaluate, 'config': self.opts.config,
                'protocol_1_mpjpe_mm': float(metrics['e1']), 'protocol_2_p_mpjpe_mm': float(metrics['e2']),
                'per_action': {name: {'P1': float(p1), 'P2': float(p2)}
                               for name, p1, p2 in zip(metrics['action_names'], metrics['P1'], metrics['P2'])}}

    def log_epoch(self, writer, epoch, meters, metrics, lr, minutes):
        if metrics is None:
            print('[%d] time %.2f lr %f 3d_train %f' % (epoch + 1, minutes, lr[0], meters['3d_pos'].avg))
            return
        print('[%d] time %.2f lr %f 3d_train %f e1 %f e2 %f' % (
            epoch + 1, minutes, lr[0], meters['3d_pos'].avg, metrics['e1'], metrics['e2']))
        scalars = {'Error P1': metrics['e1'], 'Error P2': metrics['e2'], 'loss_3d_pos': meters['3d_pos'].avg,
                   'loss_2d_proj': meters['2d_proj'].avg, 'loss_3d_scale': meters['3d_scale'].avg,
                   'loss_3d_velocity': meters['3d_velocity'].avg, 'loss_lv': meters['lv'].avg,
                   'loss_lg': meters['lg'].avg, 'loss_a': meters['angle'].avg,
                   'loss_av': meters['angle_velocity'].avg, 'loss_total': meters['total'].avg}
        for name, value in scalars.items():
            writer.add_scalar(name, value, epoch + 1)


def train_with_config(args, opts):
    """Train or evaluate with a loaded config (the original's entry point); the config is checked first."""
    validate_config(args, TRAIN_POSE3D, training=not opts.evaluate)
    print(args)
    return run(Pose3DTask, opts, args)


def main(argv=None):
    opts = parse_args(argv)
    from lib.utils.tools import get_config
    args = get_config(opts.config)
    train_with_config(args, opts)


if __name__ == "__main__":
    run_cli(main)
