"""One-shot action recognition on NTU RGB+D 120 (contrastive embedding, nearest-anchor evaluation).

    python train_action_1shot.py --config configs/action/MB_ft_NTU120_oneshot.yaml \
        --pretrained checkpoint/pretrain/MB_release --checkpoint checkpoint/action/FT_MB_release_MB_ft_NTU120_oneshot
    python train_action_1shot.py --config configs/action/MB_ft_NTU120_oneshot.yaml --evaluate <best_epoch.bin>

See docs/action.md.
"""
import os

import numpy as np
import torch
from pytorch_metric_learning.samplers import MPerClassSampler

from lib.data.dataset_action import NTURGBD, NTURGBD1Shot
from lib.model.loss_supcon import SupConLoss
from lib.model.model_action import ActionNet
from lib.utils.config_schema import TRAIN_ACTION_1SHOT, validate_config
from lib.utils.cli import run_cli
from lib.utils.learning import oneshot_accuracy
from lib.utils.tools import get_config
from lib.utils.trainer import Task, TrainPass, run
from lib.utils.trainer import parse_args as _parse_args
from train_action import action_data_path, backbone_and_head_groups, build_action_backbone

ONESHOT_FILE = "ntu120_hrnet_oneshot"   # anchors (oneshot_train) and queries (oneshot_val)
TRAIN_FILE = "ntu120_hrnet"             # the 100 auxiliary classes for training


def parse_args(argv=None):
    return _parse_args(__doc__.split("\n\n")[0], argv, selection_default="best_epoch.bin",
                       config_example="configs/action/MB_ft_NTU120_oneshot.yaml")


@torch.no_grad()
def extract_feats(dataloader_x, model):
    """Embeddings and labels of every sample of ``dataloader_x`` (the model's current mode is kept)."""
    device = next(model.parameters()).device
    feats, labels = [], []
    for batch_input, batch_gt in dataloader_x:
        feats.append(model(batch_input.to(device)).float().cpu())
        labels.append(torch.as_tensor(batch_gt))
    return torch.cat(feats), torch.cat(labels)


def validate(anchor_loader, test_loader, model):
    """One-shot accuracy (fraction in [0, 1]) of the test clips against the anchors, in eval mode.

    The original evaluated in train mode (dropout active, so its accuracy was random); this is
    deterministic.
    """
    model.eval()
    anchor_feats, anchor_labels = extract_feats(anchor_loader, model)
    test_feats, test_labels = extract_feats(test_loader, model)
    return oneshot_accuracy(anchor_feats, anchor_labels, test_feats, test_labels)


def _require(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"NTU-120 data file not found: {path}. docs/action.md explains how to get it.")
    return path


class OneShotTask(Task):
    model_key = 'model'
    best_key = 'best_acc'
    best_initial = 0
    checkpoint_frequency_key = None
    meter_names = ('loss',)

    def __init__(self, args, opts, runtime):
        super().__init__(args, opts, runtime)
        oneshot_path = _require(action_data_path(args, ONESHOT_FILE))
        eval_kwargs = dict(n_frames=args.clip_len, random_move=False, scale_range=args.scale_range_test)
        self.anchor_dataset = NTURGBD(oneshot_path, data_split='oneshot_train', **eval_kwargs)
        self.test_dataset = NTURGBD(oneshot_path, data_split='oneshot_val', **eval_kwargs)
        if not opts.evaluate:
            train_dataset = NTURGBD1Shot(_require(action_data_path(args, TRAIN_FILE)), data_split='',
                                         n_frames=args.clip_len, random_move=args.random_move,
                                         scale_range=args.scale_range_train, check_split=False)
            sampler = MPerClassSampler(train_dataset.labels, m=args.n_views, batch_size=args.batch_size,
                                       length_before_new_iter=len(train_dataset))
            self.train_loader = runtime.loader(train_dataset, args.batch_size, shuffle=False, sampler=sampler)
        self.criterion = SupConLoss(temperature=args.temp)

    def build_model(self):
        args = self.args
        backbone = build_action_backbone(args, self.opts, strict_finetune=True)
        return ActionNet(backbone, args.dim_rep, dropout_ratio=args.dropout_ratio, version=args.model_version,
                         hidden_dim=args.hidden_dim, num_joints=args.num_joints)

    def param_groups(self, model):
        return backbone_and_head_groups(model, self.args)

    def train_passes(self, epoch):
        return [TrainPass('NTU-120', self.train_loader)]

    def train_step(self, model, batch, meters):
        batch_input, batch_gt = (t.to(self.runtime.device) for t in batch)
        feat = model(batch_input).float().reshape(batch_input.shape[0], -1, self.args.hidden_dim)
        loss = self.criterion(feat, batch_gt)
        meters['loss'].update(loss.item(), batch_input.shape[0])
        return loss

    def evaluate(self, model):
        model.eval()

        def embed(batch):
            with torch.no_grad():
                return {'feat': model(batch[0].to(self.runtime.device)).float().cpu().numpy(),
                        'label': np.asarray(batch[1])}

        anchors = self.runtime.predict(self.anchor_dataset, self.args.batch_size, embed)
        queries = self.runtime.predict(self.test_dataset, self.args.batch_size, embed)
        acc = oneshot_accuracy(*(torch.from_numpy(a) for a in (anchors['feat'], anchors['label'],
                                                               queries['feat'], queries['label']))).item()
        self.runtime.print(f'One-shot accuracy {acc:.4f} ({len(queries["label"])} clips, '
                           f'{len(anchors["label"])} anchors)')
        return {'metric': acc, 'top1': acc}

    def evaluation_report(self, metrics):
        return {'checkpoint': self.opts.evaluate, 'config': self.opts.config, 'oneshot_accuracy': metrics['top1']}

    def log_epoch(self, writer, epoch, meters, metrics, lr, minutes):
        print('[%d] time %.2f lr %s train_loss_supcon %.4f test_top1 %.4f' % (
            epoch + 1, minutes, ['%g' % v for v in lr], meters['loss'].avg, metrics['top1']))
        writer.add_scalar('train_loss_supcon', meters['loss'].avg, epoch + 1)
        writer.add_scalar('test_top1', metrics['top1'], epoch + 1)


def train_with_config(args, opts):
    """Train or evaluate with a loaded config (the original's entry point); the config is checked first."""
    validate_config(args, TRAIN_ACTION_1SHOT, training=not opts.evaluate)
    print(args)
    return run(OneShotTask, opts, args)


def main(argv=None):
    opts = parse_args(argv)
    train_with_config(get_config(opts.config), opts)


if __name__ == "__main__":
    run_cli(main)
