"""Human mesh recovery (SMPL) on Human3.6M, COCO and 3DPW.

    python train_mesh.py --config configs/mesh/MB_ft_pw3d.yaml --pretrained checkpoint/pretrain/MB_release \
        --checkpoint checkpoint/mesh/FT_MB_release_MB_ft_pw3d
    python train_mesh.py --config configs/mesh/MB_ft_pw3d.yaml --evaluate checkpoint/mesh/.../best_epoch.bin

See docs/mesh.md.
"""
import os
import shutil

import numpy as np
import torch

from lib.data.dataset_mesh import MotionSMPL
from lib.model.loss_mesh import MeshLoss
from lib.model.model_mesh import MeshRegressor
from lib.utils.config_schema import TRAIN_MESH, validate_config
from lib.utils.cli import run_cli
from lib.utils.learning import load_backbone, load_pretrained_weights, partial_train_layers
from lib.utils.tools import get_config
from lib.utils.trainer import Task, TrainPass, finetuning_from_pretrained, load_finetune_state, run
from lib.utils.trainer import parse_args as _parse_args
from lib.utils.trainer import set_random_seed  # noqa: F401  (public name of the original script)
from lib.utils.utils_mesh import compute_error, evaluate_mesh, flip_averaged_output
from lib.utils.utils_smpl import SMPL

# loss term → config weight
LOSS_WEIGHTS = {'loss_3d_pos': 'lambda_3d', 'loss_3d_scale': 'lambda_scale', 'loss_3d_velocity': 'lambda_3dv',
                'loss_lv': 'lambda_lv', 'loss_lg': 'lambda_lg', 'loss_a': 'lambda_a', 'loss_av': 'lambda_av',
                'loss_shape': 'lambda_shape', 'loss_pose': 'lambda_pose', 'loss_norm': 'lambda_norm'}


def parse_args(argv=None):
    return _parse_args(__doc__.split("\n\n")[0], argv, config_example="configs/mesh/MB_ft_pw3d.yaml")


def weighted_mesh_loss(args, loss_dict):
    """The training objective: the ten MeshLoss terms weighted by the config's lambdas."""
    return sum(args[weight] * loss_dict[name] for name, weight in LOSS_WEIGHTS.items())


def _mesh_batch_results(args, model, smpl, criterion, batch):
    """Predictions, targets (NumPy) and loss values of one validation batch."""
    batch_input, batch_gt = batch
    device = next(model.parameters()).device
    batch_input = batch_input.to(device).float()
    batch_gt = {k: v.to(device).float() for k, v in batch_gt.items()}
    with torch.no_grad():
        output = flip_averaged_output(model, smpl, batch_input) if args.flip else model(batch_input)[0]
        loss_dict = criterion([output], batch_gt)
    n = np.array([len(batch_input)], dtype=np.float64)
    losses = {f'loss/{k}': np.array([v.item()]) for k, v in loss_dict.items()}
    losses['loss/total'] = np.array([weighted_mesh_loss(args, loss_dict).item()])
    arrays = {'kp_3d': output['kp_3d'], 'verts': output['verts'], 'kp_3d_gt': batch_gt['kp_3d'],
              'verts_gt': batch_gt['verts']}
    return dict(losses, n=n, **{k: v.float().cpu().numpy() for k, v in arrays.items()})


def mesh_metrics(args, results):
    """Loss averages and ``evaluate_mesh`` errors (mm) from the gathered per-batch results."""
    weights = results['n'] / results['n'].sum()
    losses = {k[len('loss/'):]: float(np.sum(v * weights)) for k, v in results.items() if k.startswith('loss/')}
    flat = {k: results[k].reshape((-1,) + results[k].shape[2:]) for k in ('kp_3d', 'verts', 'kp_3d_gt', 'verts_gt')}
    errors = evaluate_mesh(flat)
    return {'loss': losses.pop('total'), 'losses': losses, **{k: float(v) for k, v in errors.items()}}


def validate(test_loader, model, criterion, dataset_name='h36m', args=None):
    """Flip-averaged validation of ``model`` (the original's function; ``args`` replaces its globals).

    Returns ``(loss avg, mpjpe, pa_mpjpe, mpve, losses_dict)`` in millimetres (14-joint MPJPE).
    """
    model.eval()
    device = next(model.parameters()).device
    smpl = SMPL(args.data_root, batch_size=1).to(device)
    parts = [_mesh_batch_results(args, model, smpl, criterion, batch) for batch in test_loader]
    results = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    metrics = mesh_metrics(args, results)
    _print_metrics(dataset_name, metrics)
    return metrics['loss'], metrics['mpjpe'], metrics['pa_mpjpe'], metrics['mpve'], metrics['losses']


def _print_metrics(dataset_name, metrics):
    print(f"[{dataset_name}] loss {metrics['loss']:.4f} MPJPE {metrics['mpjpe']:.2f} mm "
          f"PA-MPJPE {metrics['pa_mpjpe']:.2f} mm MPVE {metrics['mpve']:.2f} mm "
          f"(17 joints: MPJPE {metrics['mpjpe_17j']:.2f}, PA-MPJPE {metrics['pa_mpjpe_17j']:.2f})")


class MeshTask(Task):
    model_key = 'model'
    best_key = 'best_jpe'
    best_initial = 9999.0
    higher_is_better = False
    meter_names = tuple(LOSS_WEIGHTS) + ('loss', 'mpjpe', 'mpve')

    def __init__(self, args, opts, runtime):
        super().__init__(args, opts, runtime)
        self.h36m_metrics = None  # of the validation right after this epoch's H36M pass
        training = not opts.evaluate
        if training and runtime.is_main and not os.path.exists(opts.checkpoint):
            os.makedirs(opts.checkpoint)
            shutil.copy(opts.config, opts.checkpoint)  # a record of the run's settings, as the original
        self.has_h36m = 'dt_file_h36m' in args
        self.has_pw3d = 'dt_file_pw3d' in args
        self.has_coco = 'dt_file_coco' in args
        self.test_datasets = {}
        self.train_loaders = {}
        loader = lambda ds, batch_size: runtime.loader(ds, batch_size, shuffle=True, batchnorm=True)
        if self.has_h36m:
            if training:
                self.train_loaders['h36m'] = loader(MotionSMPL(args, 'train', 'h36m'), args.batch_size)
            self.test_datasets['h36m'] = MotionSMPL(args, 'test', 'h36m')
        if self.has_pw3d:
            if training and args.train_pw3d:
                self.train_loaders['pw3d'] = loader(MotionSMPL(args, 'train', 'pw3d'), args.batch_size)
            self.test_datasets['pw3d'] = MotionSMPL(args, 'test', 'pw3d')
        if self.has_coco and training:
            self.train_loaders['coco'] = loader(MotionSMPL(args, 'train', 'coco'), args.batch_size_img)
        self.criterion = MeshLoss(loss_type=args.loss_type)
        self.smpl = None

    def build_model(self):
        args, opts = self.args, self.opts
        backbone = load_backbone(args)
        if finetuning_from_pretrained(args, opts):
            state, path = load_finetune_state(opts)
            self.runtime.print('Loading backbone', path)
            load_pretrained_weights(backbone, state)
        if args.partial_train:
            backbone = partial_train_layers(backbone, args.partial_train)
        return MeshRegressor(args, backbone, dim_rep=args.dim_rep, hidden_dim=args.hidden_dim,
                             dropout_ratio=args.dropout, num_joints=args.num_joints)

    def param_groups(self, model):
        return [{'params': [p for p in model.backbone.parameters() if p.requires_grad], 'lr': self.args.lr_backbone},
                {'params': [p for p in model.head.parameters() if p.requires_grad], 'lr': self.args.lr_head}]

    def train_passes(self, epoch):
        passes = []
        if self.has_h36m and epoch < self.args.warmup_h36m:
            passes.append(TrainPass('H36M', self.train_loaders['h36m']))
        if self.has_coco and epoch < self.args.warmup_coco:
            passes.append(TrainPass('COCO', self.train_loaders['coco']))
        if 'pw3d' in self.train_loaders:
            passes.append(TrainPass('3DPW', self.train_loaders['pw3d']))
        return passes

    def train_step(self, model, batch, meters):
        batch_input, batch_gt = batch
        batch_input = batch_input.to(self.runtime.device).float()
        batch_gt = {k: v.to(self.runtime.device).float() for k, v in batch_gt.items()}
        output = [{k: v.float() for k, v in model(batch_input)[0].items()}]  # losses in float32 (--amp)
        loss_dict = self.criterion(output, batch_gt)
        loss = weighted_mesh_loss(self.args, loss_dict)
        n = batch_input.shape[0]
        for name, value in loss_dict.items():
            meters[name].update(value.item(), n)
        meters['loss'].update(loss.item(), n)
        mpjpe, mpve = compute_error(output, batch_gt)
        meters['mpjpe'].update(mpjpe.item(), n)
        meters['mpve'].update(mpve.item(), n)
        return loss

    def _validate(self, model, name):
        if self.smpl is None:
            self.smpl = SMPL(self.args.data_root, batch_size=1)
        smpl = self.smpl.to(self.runtime.device)
        results = self.runtime.predict(self.test_datasets[name], self.args.batch_size,
                                       lambda batch: _mesh_batch_results(self.args, model, smpl, self.criterion,
                                                                         batch))
        metrics = mesh_metrics(self.args, results)
        if self.runtime.is_main:
            _print_metrics(name, metrics)
        return metrics

    def after_pass(self, model, train_pass):
        # as the original, H36M is validated right after its training pass (the warm-up epochs),
        # before the COCO and 3DPW passes
        if train_pass.name == 'H36M':
            model.eval()
            self.h36m_metrics = self._validate(model, 'h36m')

    def evaluate(self, model):
        model.eval()
        metrics = {}
        if self.h36m_metrics is not None:
            metrics['h36m'], self.h36m_metrics = self.h36m_metrics, None
        elif self.has_h36m and (self.opts.evaluate or not self.has_pw3d):
            # after the warm-up, H36M is still validated when it is the only test set (the original then
            # left the selection metric undefined)
            metrics['h36m'] = self._validate(model, 'h36m')
        if self.has_pw3d:
            metrics['pw3d'] = self._validate(model, 'pw3d')
        metrics['metric'] = metrics['pw3d' if self.has_pw3d else 'h36m']['mpjpe']
        return metrics

    def evaluation_report(self, metrics):
        keys = ('loss', 'mpjpe', 'pa_mpjpe', 'mpve', 'mpjpe_17j', 'pa_mpjpe_17j')
        return {'checkpoint': self.opts.evaluate, 'config': self.opts.config,
                **{name: {k: metrics[name][k] for k in keys} for name in ('h36m', 'pw3d') if name in metrics}}

    def log_epoch(self, writer, epoch, meters, metrics, lr, minutes):
        step = epoch + 1
        for suffix, name in (('', 'h36m'), ('_pw3d', 'pw3d')):
            if name not in metrics:
                continue
            m = metrics[name]
            for k, v in m['losses'].items():
                writer.add_scalar(f'test_loss{suffix}/{k}', v, step)
            writer.add_scalar(f'test_loss{suffix}', m['loss'], step)
            writer.add_scalar(f'test_mpjpe{suffix}', m['mpjpe'], step)
            writer.add_scalar(f'test_pa_mpjpe{suffix}', m['pa_mpjpe'], step)
            writer.add_scalar(f'test_mpve{suffix}', m['mpve'], step)
        for name in LOSS_WEIGHTS:
            writer.add_scalar(f'train_loss/{name}', meters[name].avg, step)
        writer.add_scalar('train_loss', meters['loss'].avg, step)
        writer.add_scalar('train_mpjpe', meters['mpjpe'].avg, step)
        writer.add_scalar('train_mpve', meters['mpve'].avg, step)
        print('[%d] time %.2f lr %s train_loss %.4f train_mpjpe %.2f train_mpve %.2f test_mpjpe %.2f' % (
            step, minutes, ['%g' % v for v in lr], meters['loss'].avg, meters['mpjpe'].avg, meters['mpve'].avg,
            metrics['metric']))


def train_with_config(args, opts):
    """Train or evaluate with a loaded config (the original's entry point); the config is checked first."""
    validate_config(args, TRAIN_MESH, training=not opts.evaluate)
    print(args)
    return run(MeshTask, opts, args)


def main(argv=None):
    opts = parse_args(argv)
    train_with_config(get_config(opts.config), opts)


if __name__ == "__main__":
    run_cli(main)
