"""Skeleton-based action recognition on NTU RGB+D 60 (cross-subject / cross-view).

    python train_action.py --config configs/action/MB_ft_NTU60_xsub.yaml --pretrained checkpoint/pretrain/MB_release \
        --checkpoint checkpoint/action/FT_MB_release_MB_ft_NTU60_xsub
    python train_action.py --config configs/action/MB_ft_NTU60_xsub.yaml --evaluate checkpoint/action/.../best_epoch.bin

See docs/action.md.
"""
import numpy as np
import torch
from torch import nn

from lib.data.dataset_action import NTURGBD
from lib.utils import trainer
from lib.utils.cli import run_cli
from lib.utils.config_schema import TRAIN_ACTION
from lib.utils.learning import accuracy, action_data_file
from lib.utils.trainer import Task, TrainPass


def action_metrics(logits, labels):
    """Cross-entropy and top-1/top-5 accuracy (percent) of logits ``(N, K)`` against labels ``(N,)``."""
    logits, labels = torch.as_tensor(logits), torch.as_tensor(labels)
    loss = nn.functional.cross_entropy(logits, labels).item()
    top1, top5 = accuracy(logits, labels, topk=(1, min(5, logits.shape[1])))
    return loss, top1.item(), top5.item()


def action_evaluation(model, predict, device):
    """Loss, top-1 and top-5 accuracy (percent) of ``model`` in eval mode; ``predict(fn)`` runs ``fn``
    over the ``(input, label)`` batches."""
    model.eval()

    def logits_of(batch):
        with torch.no_grad():
            return {'logits': model(batch[0].to(device)).float().cpu().numpy(), 'label': np.asarray(batch[1])}

    out = predict(logits_of)
    return action_metrics(out['logits'], out['label'])


class ActionTask(Task):
    model_task = 'action'
    config_reader = TRAIN_ACTION
    config_example = "configs/action/MB_ft_NTU60_xsub.yaml"
    model_key = 'model'
    best_key = 'best_acc'
    best_initial = 0
    meter_names = ('loss', 'top1', 'top5')

    def __init__(self, cfg, cli, runtime):
        super().__init__(cfg, cli, runtime)
        data_path = action_data_file(cfg, cfg.dataset)
        # training set first, as the original: each construction re-seeds NumPy and draws from it
        if not cli.evaluate:
            train_dataset = NTURGBD(data_path, data_split=cfg.data_split + '_train', n_frames=cfg.clip_len,
                                    random_move=cfg.random_move, scale_range=cfg.scale_range_train,
                                    num_classes=cfg.action_classes)
            self.train_loader = runtime.loader(train_dataset, cfg.batch_size, shuffle=True, batchnorm=True)
        self.test_dataset = NTURGBD(data_path, data_split=cfg.data_split + '_val', n_frames=cfg.clip_len,
                                    random_move=False, scale_range=cfg.scale_range_test,
                                    num_classes=cfg.action_classes)
        self.criterion = nn.CrossEntropyLoss()

    def train_passes(self, epoch):
        return [TrainPass('NTU', self.train_loader)]

    def train_step(self, model, batch, meters):
        batch_input, batch_gt = (t.to(self.runtime.device) for t in batch)
        output = model(batch_input)
        loss = self.criterion(output, batch_gt)
        acc1, acc5 = accuracy(output, batch_gt, topk=(1, min(5, output.shape[1])))
        n = batch_input.shape[0]
        meters['loss'].update(loss.item(), n)
        meters['top1'].update(acc1.item(), n)
        meters['top5'].update(acc5.item(), n)
        return loss

    def evaluate(self, model):
        loss, top1, top5 = action_evaluation(model, lambda fn: self.runtime.predict(
            self.test_dataset, self.cfg.batch_size, fn), self.runtime.device)
        self.runtime.print('Loss {loss:.4f} \tAcc@1 {top1:.3f} \tAcc@5 {top5:.3f} \t'.format(
            loss=loss, top1=top1, top5=top5))
        return {'metric': top1, 'loss': loss, 'top1': top1, 'top5': top5}

    def evaluation_report(self, metrics):
        return {'checkpoint': self.cli.evaluate, 'config': self.cli.config, 'split': self.cfg.data_split + '_val',
                'loss': metrics['loss'], 'top1_percent': metrics['top1'], 'top5_percent': metrics['top5']}

    def epoch_line(self, epoch, meters, metrics, lr, minutes):
        return '[%d] time %.2f lr %s train_loss %.4f train_top1 %.3f test_loss %.4f test_top1 %.3f test_top5 %.3f' % (
            epoch + 1, minutes, ['%g' % v for v in lr], meters['loss'].avg, meters['top1'].avg, metrics['loss'],
            metrics['top1'], metrics['top5'])

    def epoch_scalars(self, meters, metrics):
        return {'train_loss': meters['loss'].avg, 'train_top1': meters['top1'].avg,
                'train_top5': meters['top5'].avg, 'test_loss': metrics['loss'], 'test_top1': metrics['top1'],
                'test_top5': metrics['top5']}


def main(argv=None):
    trainer.main(ActionTask, argv)


# --- the original's script-level functions (spec 00 §7.10), kept for compatibility -------------------------
parse_args = ActionTask.parse_args


def validate(test_loader, model, criterion=None):
    """Loss, top-1 and top-5 accuracy (percent) of ``model`` over ``test_loader`` (eval mode; the loss is
    the cross-entropy whatever ``criterion``)."""
    return action_evaluation(model, lambda fn: trainer.predict_loader(test_loader, fn),
                             next(model.parameters()).device)


def train_with_config(args, opts):
    """Train or evaluate with a loaded config; the config is checked first."""
    return trainer.run(ActionTask, opts, args)


if __name__ == "__main__":
    run_cli(main)
