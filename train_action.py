"""Skeleton-based action recognition on NTU RGB+D 60 (cross-subject / cross-view).

    python train_action.py --config configs/action/MB_ft_NTU60_xsub.yaml --pretrained checkpoint/pretrain/MB_release \
        --checkpoint checkpoint/action/FT_MB_release_MB_ft_NTU60_xsub
    python train_action.py --config configs/action/MB_ft_NTU60_xsub.yaml --evaluate checkpoint/action/.../best_epoch.bin

See docs/action.md.
"""
import os

import numpy as np
import torch
from torch import nn

from lib.data.dataset_action import NTURGBD
from lib.model.model_action import ActionNet
from lib.utils.checkpoint import load_model_weights
from lib.utils.config_schema import TRAIN_ACTION, validate_config
from lib.utils.cli import run_cli
from lib.utils.learning import accuracy, load_backbone, load_pretrained_weights, partial_train_layers
from lib.utils.tools import get_config
from lib.utils.trainer import Task, TrainPass, finetuning_from_pretrained, load_finetune_state, run
from lib.utils.trainer import parse_args as _parse_args

ACTION_DATA_ROOT = "data/action"


def parse_args(argv=None):
    return _parse_args(__doc__.split("\n\n")[0], argv, config_example="configs/action/MB_ft_NTU60_xsub.yaml")


def action_data_path(args, name):
    """``<data_root>/<name>.pkl``; ``data_root`` is an optional config key (default data/action)."""
    return os.path.join(args.get("data_root", ACTION_DATA_ROOT), f"{name}.pkl")


def build_action_backbone(args, opts, strict_finetune=False):
    """The backbone, with ``--pretrained`` weights when finetuning (not when resuming/evaluating).

    NTU-60: the entries that fit are copied (``load_pretrained_weights``) and ``partial_train``
    applies in every mode; one-shot (``strict_finetune``): loaded strictly, and ``partial_train``
    only in finetuning runs, as the original scripts; unlike the original's one-shot script, also
    when such a run resumes, so that it trains the same parameters as before.
    """
    backbone = load_backbone(args)
    if finetuning_from_pretrained(args, opts):
        state, path = load_finetune_state(opts)
        print('Loading backbone', path)
        if strict_finetune:
            load_model_weights(backbone, state, path)
        else:
            load_pretrained_weights(backbone, state)
    if args.partial_train and (args.finetune or not strict_finetune):
        backbone = partial_train_layers(backbone, args.partial_train)
    return backbone


def backbone_and_head_groups(model, args):
    """Two AdamW groups: trainable backbone parameters (lr_backbone), trainable head ones (lr_head)."""
    return [{'params': [p for p in model.backbone.parameters() if p.requires_grad], 'lr': args.lr_backbone},
            {'params': [p for p in model.head.parameters() if p.requires_grad], 'lr': args.lr_head}]


def action_metrics(logits, labels):
    """Cross-entropy and top-1/top-5 accuracy (percent) of logits ``(N, K)`` against labels ``(N,)``."""
    logits, labels = torch.as_tensor(logits), torch.as_tensor(labels)
    loss = nn.functional.cross_entropy(logits, labels).item()
    top1, top5 = accuracy(logits, labels, topk=(1, min(5, logits.shape[1])))
    return loss, top1.item(), top5.item()


def validate(test_loader, model, criterion=None):
    """Loss, top-1 and top-5 accuracy (percent) of ``model`` over ``test_loader`` (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    logits, labels = [], []
    with torch.no_grad():
        for batch_input, batch_gt in test_loader:
            logits.append(model(batch_input.to(device)).float().cpu())
            labels.append(torch.as_tensor(batch_gt))
    return action_metrics(torch.cat(logits), torch.cat(labels))


class ActionTask(Task):
    model_key = 'model'
    best_key = 'best_acc'
    best_initial = 0
    checkpoint_frequency_key = None  # the action scripts write latest and best only
    meter_names = ('loss', 'top1', 'top5')

    def __init__(self, args, opts, runtime):
        super().__init__(args, opts, runtime)
        data_path = action_data_path(args, args.dataset)
        if not os.path.isfile(data_path):
            raise FileNotFoundError(f"NTU data file not found: {data_path}. docs/action.md explains how to get it.")
        # training set first, as the original: each construction re-seeds NumPy and draws from it
        if not opts.evaluate:
            train_dataset = NTURGBD(data_path, data_split=args.data_split + '_train', n_frames=args.clip_len,
                                    random_move=args.random_move, scale_range=args.scale_range_train,
                                    num_classes=args.action_classes)
            self.train_loader = runtime.loader(train_dataset, args.batch_size, shuffle=True, batchnorm=True)
        self.test_dataset = NTURGBD(data_path, data_split=args.data_split + '_val', n_frames=args.clip_len,
                                    random_move=False, scale_range=args.scale_range_test,
                                    num_classes=args.action_classes)
        self.criterion = nn.CrossEntropyLoss()

    def build_model(self):
        args = self.args
        return ActionNet(build_action_backbone(args, self.opts), args.dim_rep, num_classes=args.action_classes,
                         dropout_ratio=args.dropout_ratio, version=args.model_version, hidden_dim=args.hidden_dim,
                         num_joints=args.num_joints)

    def param_groups(self, model):
        return backbone_and_head_groups(model, self.args)

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
        model.eval()

        def logits_of(batch):
            with torch.no_grad():
                return {'logits': model(batch[0].to(self.runtime.device)).float().cpu().numpy(),
                        'label': np.asarray(batch[1])}

        out = self.runtime.predict(self.test_dataset, self.args.batch_size, logits_of)
        loss, top1, top5 = action_metrics(out['logits'], out['label'])
        self.runtime.print('Loss {loss:.4f} \tAcc@1 {top1:.3f} \tAcc@5 {top5:.3f} \t'.format(
            loss=loss, top1=top1, top5=top5))
        return {'metric': top1, 'loss': loss, 'top1': top1, 'top5': top5}

    def evaluation_report(self, metrics):
        return {'checkpoint': self.opts.evaluate, 'config': self.opts.config, 'split': self.args.data_split + '_val',
                'loss': metrics['loss'], 'top1_percent': metrics['top1'], 'top5_percent': metrics['top5']}

    def log_epoch(self, writer, epoch, meters, metrics, lr, minutes):
        print('[%d] time %.2f lr %s train_loss %.4f train_top1 %.3f test_loss %.4f test_top1 %.3f test_top5 %.3f' % (
            epoch + 1, minutes, ['%g' % v for v in lr], meters['loss'].avg, meters['top1'].avg, metrics['loss'],
            metrics['top1'], metrics['top5']))
        scalars = {'train_loss': meters['loss'].avg, 'train_top1': meters['top1'].avg,
                   'train_top5': meters['top5'].avg, 'test_loss': metrics['loss'], 'test_top1': metrics['top1'],
                   'test_top5': metrics['top5']}
        for name, value in scalars.items():
            writer.add_scalar(name, value, epoch + 1)


def train_with_config(args, opts):
    """Train or evaluate with a loaded config (the original's entry point); the config is checked first."""
    validate_config(args, TRAIN_ACTION, training=not opts.evaluate)
    print(args)
    return run(ActionTask, opts, args)


def main(argv=None):
    opts = parse_args(argv)
    train_with_config(get_config(opts.config), opts)


if __name__ == "__main__":
    run_cli(main)
