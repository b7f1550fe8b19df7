"""Human mesh recovery (SMPL) on Human3.6M, COCO and 3DPW.

    python train_mesh.py --config configs/mesh/MB_ft_pw3d.yaml --pretrained checkpoint/pretrain/MB_release \
        --checkpoint checkpoint/mesh/FT_MB_release_MB_ft_pw3d
    python train_mesh.py --config configs/mesh/MB_ft_pw3d.yaml --evaluate checkpoint/mesh/.../best_epoch.bin

See docs/mesh.md.
"""
import numpy as np
import torch

from lib.data.dataset_mesh import MotionSMPL
from lib.model.loss_mesh import MeshLoss
from lib.utils import trainer
from lib.utils.cli import run_cli
from lib.utils.config_schema import TRAIN_MESH
from lib.utils.trainer import Task, TrainPass
from lib.utils.utils_mesh import compute_error, evaluate_mesh, flip_averaged_output
from lib.utils.utils_smpl import SMPL

# loss term → config weight
LOSS_WEIGHTS = {'loss_3d_pos': 'lambda_3d', 'loss_3d_scale': 'lambda_scale', 'loss_3d_velocity': 'lambda_3dv',
                'loss_lv': 'lambda_lv', 'loss_lg': 'lambda_lg', 'loss_a': 'lambda_a', 'loss_av': 'lambda_av',
                'loss_shape': 'lambda_shape', 'loss_pose': 'lambda_pose', 'loss_norm': 'lambda_norm'}


def weighted_mesh_loss(cfg, loss_dict):
    """The training objective: the ten MeshLoss terms weighted by the config's lambdas."""
    return sum(cfg[weight] * loss_dict[name] for name, weight in LOSS_WEIGHTS.items())


def _on_device(batch, device):
    """The ``(input, targets dict)`` of a batch, in float32 on ``device``."""
    batch_input, batch_gt = batch
    return batch_input.to(device).float(), {k: v.to(device).float() for k, v in batch_gt.items()}


def mesh_step(cfg, model, criterion, batch, meters, device):
    """Loss of one ``(input, targets)`` training batch; the loss terms and errors go to ``meters``."""
    batch_input, batch_gt = _on_device(batch, device)
    output = [{k: v.float() for k, v in model(batch_input)[0].items()}]  # losses in float32 (--amp)
    loss_dict = criterion(output, batch_gt)
    loss = weighted_mesh_loss(cfg, loss_dict)
    n = batch_input.shape[0]
    for name, value in loss_dict.items():
        meters[name].update(value.item(), n)
    meters['loss'].update(loss.item(), n)
    mpjpe, mpve = compute_error(output, batch_gt)
    meters['mpjpe'].update(mpjpe.item(), n)
    meters['mpve'].update(mpve.item(), n)
    return loss


def _mesh_batch_results(cfg, model, smpl, criterion, batch):
    """Predictions, targets (NumPy) and loss values of one validation batch."""
    batch_input, batch_gt = _on_device(batch, next(model.parameters()).device)
    with torch.no_grad():
        output = flip_averaged_output(model, smpl, batch_input) if cfg.flip else model(batch_input)[0]
        loss_dict = criterion([output], batch_gt)
    n = np.array([len(batch_input)], dtype=np.float64)
    losses = {f'loss/{k}': np.array([v.item()]) for k, v in loss_dict.items()}
    losses['loss/total'] = np.array([weighted_mesh_loss(cfg, loss_dict).item()])
    arrays = {'kp_3d': output['kp_3d'], 'verts': output['verts'], 'kp_3d_gt': batch_gt['kp_3d'],
              'verts_gt': batch_gt['verts']}
    return dict(losses, n=n, **{k: v.float().cpu().numpy() for k, v in arrays.items()})


def mesh_evaluation(cfg, model, smpl, criterion, predict):
    """Loss averages and ``evaluate_mesh`` errors (mm) of ``model`` in eval mode; ``predict(fn)`` runs ``fn``
    over the validation batches."""
    model.eval()
    results = predict(lambda batch: _mesh_batch_results(cfg, model, smpl, criterion, batch))
    weights = results['n'] / results['n'].sum()
    losses = {k[len('loss/'):]: float(np.sum(v * weights)) for k, v in results.items() if k.startswith('loss/')}
    flat = {k: results[k].reshape((-1,) + results[k].shape[2:]) for k in ('kp_3d', 'verts', 'kp_3d_gt', 'verts_gt')}
    errors = evaluate_mesh(flat)
    return {'loss': losses.pop('total'), 'losses': losses, **{k: float(v) for k, v in errors.items()}}


def _print_metrics(dataset_name, metrics):
    print(f"[{dataset_name}] loss {metrics['loss']:.4f} MPJPE {metrics['mpjpe']:.2f} mm "
          f"PA-MPJPE {metrics['pa_mpjpe']:.2f} mm MPVE {metrics['mpve']:.2f} mm "
          f"(17 joints: MPJPE {metrics['mpjpe_17j']:.2f}, PA-MPJPE {metrics['pa_mpjpe_17j']:.2f})")


class MeshTask(Task):
    model_task = 'mesh'
    config_reader = TRAIN_MESH
    config_example = "configs/mesh/MB_ft_pw3d.yaml"
    model_key = 'model'
    best_key = 'best_jpe'
    best_initial = 9999.0
    higher_is_better = False
    meter_names = tuple(LOSS_WEIGHTS) + ('loss', 'mpjpe', 'mpve')
    copy_config = True

    def __init__(self, cfg, cli, runtime):
        super().__init__(cfg, cli, runtime)
        self.h36m_metrics = None  # of the validation right after this epoch's H36M pass
        training = not cli.evaluate
        self.has_h36m = 'dt_file_h36m' in cfg
        self.has_pw3d = 'dt_file_pw3d' in cfg
        self.has_coco = 'dt_file_coco' in cfg
        self.test_datasets = {}
        self.train_loaders = {}
        loader = lambda ds, batch_size: runtime.loader(ds, batch_size, shuffle=True, batchnorm=True)
        if self.has_h36m:
            if training:
                self.train_loaders['h36m'] = loader(MotionSMPL(cfg, 'train', 'h36m'), cfg.batch_size)
            self.test_datasets['h36m'] = MotionSMPL(cfg, 'test', 'h36m')
        if self.has_pw3d:
            if training and cfg.train_pw3d:
                self.train_loaders['pw3d'] = loader(MotionSMPL(cfg, 'train', 'pw3d'), cfg.batch_size)
            self.test_datasets['pw3d'] = MotionSMPL(cfg, 'test', 'pw3d')
        if self.has_coco and training:
            self.train_loaders['coco'] = loader(MotionSMPL(cfg, 'train', 'coco'), cfg.batch_size_img)
        self.criterion = MeshLoss(loss_type=cfg.loss_type)
        self.smpl = None

    def train_passes(self, epoch):
        passes = []
        if self.has_h36m and epoch < self.cfg.warmup_h36m:
            passes.append(TrainPass('H36M', self.train_loaders['h36m']))
        if self.has_coco and epoch < self.cfg.warmup_coco:
            passes.append(TrainPass('COCO', self.train_loaders['coco']))
        if 'pw3d' in self.train_loaders:
            passes.append(TrainPass('3DPW', self.train_loaders['pw3d']))
        return passes

    def train_step(self, model, batch, meters):
        return mesh_step(self.cfg, model, self.criterion, batch, meters, self.runtime.device)

    def _validate(self, model, name):
        if self.smpl is None:
            self.smpl = SMPL(self.cfg.data_root, batch_size=1)
        smpl = self.smpl.to(self.runtime.device)
        metrics = mesh_evaluation(self.cfg, model, smpl, self.criterion, lambda fn: self.runtime.predict(
            self.test_datasets[name], self.cfg.batch_size, fn))
        if self.runtime.is_main:
            _print_metrics(name, metrics)
        return metrics

    def after_pass(self, model, train_pass):
        # as the original, H36M is validated right after its training pass (the warm-up epochs),
        # before the COCO and 3DPW passes
        if train_pass.name == 'H36M':
            self.h36m_metrics = self._validate(model, 'h36m')

    def evaluate(self, model):
        metrics = {}
        if self.h36m_metrics is not None:
            metrics['h36m'], self.h36m_metrics = self.h36m_metrics, None
        elif self.has_h36m and (self.cli.evaluate or not self.has_pw3d):
            # after the warm-up, H36M is still validated when it is the only test set (the original then
            # left the selection metric undefined)
            metrics['h36m'] = self._validate(model, 'h36m')
        if self.has_pw3d:
            metrics['pw3d'] = self._validate(model, 'pw3d')
        metrics['metric'] = metrics['pw3d' if self.has_pw3d else 'h36m']['mpjpe']
        return metrics

    def evaluation_report(self, metrics):
        keys = ('loss', 'mpjpe', 'pa_mpjpe', 'mpve', 'mpjpe_17j', 'pa_mpjpe_17j')
        return {'checkpoint': self.cli.evaluate, 'config': self.cli.config,
                **{name: {k: metrics[name][k] for k in keys} for name in ('h36m', 'pw3d') if name in metrics}}

    def epoch_line(self, epoch, meters, metrics, lr, minutes):
        return '[%d] time %.2f lr %s train_loss %.4f train_mpjpe %.2f train_mpve %.2f test_mpjpe %.2f' % (
            epoch + 1, minutes, ['%g' % v for v in lr], meters['loss'].avg, meters['mpjpe'].avg, meters['mpve'].avg,
            metrics['metric'])

    def epoch_scalars(self, meters, metrics):
        scalars = {}
        for suffix, name in (('', 'h36m'), ('_pw3d', 'pw3d')):
            if name in metrics:
                m = metrics[name]
                scalars.update({f'test_loss{suffix}/{k}': v for k, v in m['losses'].items()})
                scalars.update({f'test_{key}{suffix}': m[key] for key in ('loss', 'mpjpe', 'pa_mpjpe', 'mpve')})
        scalars.update({f'train_loss/{name}': meters[name].avg for name in LOSS_WEIGHTS})
        scalars.update({'train_loss': meters['loss'].avg, 'train_mpjpe': meters['mpjpe'].avg,
                        'train_mpve': meters['mpve'].avg})
        return scalars


def main(argv=None):
    trainer.main(MeshTask, argv)


# --- the original's script-level functions (spec 00 §7.10), kept for compatibility -------------------------
parse_args = MeshTask.parse_args
set_random_seed = trainer.set_random_seed


def validate(test_loader, model, criterion, dataset_name='h36m', args=None):
    """Flip-averaged validation of ``model`` (``args``, the config, replaces the original's globals).

    Returns ``(loss avg, mpjpe, pa_mpjpe, mpve, losses_dict)`` in millimetres (14-joint MPJPE).
    """
    smpl = SMPL(args.data_root, batch_size=1).to(next(model.parameters()).device)
    metrics = mesh_evaluation(args, model, smpl, criterion, lambda fn: trainer.predict_loader(test_loader, fn))
    _print_metrics(dataset_name, metrics)
    return metrics['loss'], metrics['mpjpe'], metrics['pa_mpjpe'], metrics['mpve'], metrics['losses']


def train_epoch(args, opts, model, train_loader, losses_train, losses_dict, mpjpes, mpves, criterion, optimizer,
                batch_time, data_time, epoch):
    """One pass over ``train_loader``: ``losses_train`` (weighted total), ``losses_dict`` (the ten terms),
    ``mpjpes`` and ``mpves`` are meters; ``opts``, ``batch_time``, ``data_time`` and ``epoch`` are unused."""
    model.train()
    meters = dict(losses_dict, loss=losses_train, mpjpe=mpjpes, mpve=mpves)
    device = next(model.parameters()).device
    trainer.optimise(train_loader, lambda batch: mesh_step(args, model, criterion, batch, meters, device), optimizer)


def train_with_config(args, opts):
    """Train or evaluate with a loaded config; the config is checked first."""
    return trainer.run(MeshTask, opts, args)


if __name__ == "__main__":
    run_cli(main)
