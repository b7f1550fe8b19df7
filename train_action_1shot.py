"""One-shot action recognition on NTU RGB+D 120 (contrastive embedding, nearest-anchor evaluation).

    python train_action_1shot.py --config configs/action/MB_ft_NTU120_oneshot.yaml \
        --pretrained checkpoint/pretrain/MB_release --checkpoint checkpoint/action/FT_MB_release_MB_ft_NTU120_oneshot
    python train_action_1shot.py --config configs/action/MB_ft_NTU120_oneshot.yaml --evaluate <best_epoch.bin>

See docs/action.md.
"""
import numpy as np
import torch
from pytorch_metric_learning.samplers import MPerClassSampler

from lib.data.dataset_action import NTURGBD, NTURGBD1Shot
from lib.model.loss_supcon import SupConLoss
from lib.utils import trainer
from lib.utils.cli import run_cli
from lib.utils.config_schema import TRAIN_ACTION_1SHOT
from lib.utils.learning import action_data_file, oneshot_accuracy
from lib.utils.trainer import Task, TrainPass

ONESHOT_FILE = "ntu120_hrnet_oneshot"   # anchors (oneshot_train) and queries (oneshot_val)
TRAIN_FILE = "ntu120_hrnet"             # the 100 auxiliary classes for training


def embeddings(model, predict, device):
    """Embeddings and labels (tensors) of the ``(input, label)`` batches that ``predict(fn)`` runs ``fn`` over;
    the model's mode is kept."""

    def embed(batch):
        with torch.no_grad():
            return {'feat': model(batch[0].to(device)).float().cpu().numpy(), 'label': np.asarray(batch[1])}

    out = predict(embed)
    return torch.from_numpy(out['feat']), torch.from_numpy(out['label'])


class OneShotTask(Task):
    model_task = 'action'
    config_reader = TRAIN_ACTION_1SHOT
    config_example = "configs/action/MB_ft_NTU120_oneshot.yaml"
    selection_default = "best_epoch.bin"
    model_key = 'model'
    best_key = 'best_acc'
    best_initial = 0
    meter_names = ('loss',)
    strict_finetune = True
    partial_train_only_in_finetune = True

    def __init__(self, cfg, cli, runtime):
        super().__init__(cfg, cli, runtime)
        oneshot_path = action_data_file(cfg, ONESHOT_FILE)
        eval_kwargs = dict(n_frames=cfg.clip_len, random_move=False, scale_range=cfg.scale_range_test)
        self.anchor_dataset = NTURGBD(oneshot_path, data_split='oneshot_train', **eval_kwargs)
        self.test_dataset = NTURGBD(oneshot_path, data_split='oneshot_val', **eval_kwargs)
        if not cli.evaluate:
            train_dataset = NTURGBD1Shot(action_data_file(cfg, TRAIN_FILE), data_split='',
                                         n_frames=cfg.clip_len, random_move=cfg.random_move,
                                         scale_range=cfg.scale_range_train, check_split=False)
            sampler = MPerClassSampler(train_dataset.labels, m=cfg.n_views, batch_size=cfg.batch_size,
                                       length_before_new_iter=len(train_dataset))
            self.train_loader = runtime.loader(train_dataset, cfg.batch_size, shuffle=False, sampler=sampler)
        self.criterion = SupConLoss(temperature=cfg.temp)

    def train_passes(self, epoch):
        return [TrainPass('NTU-120', self.train_loader)]

    def train_step(self, model, batch, meters):
        batch_input, batch_gt = (t.to(self.runtime.device) for t in batch)
        feat = model(batch_input).float().reshape(batch_input.shape[0], -1, self.cfg.hidden_dim)
        loss = self.criterion(feat, batch_gt)
        meters['loss'].update(loss.item(), batch_input.shape[0])
        return loss

    def evaluate(self, model):
        model.eval()
        anchors, queries = (embeddings(model, lambda fn: self.runtime.predict(dataset, self.cfg.batch_size, fn),
                                       self.runtime.device) for dataset in (self.anchor_dataset, self.test_dataset))
        acc = oneshot_accuracy(*anchors, *queries).item()
        self.runtime.print(f'One-shot accuracy {acc:.4f} ({len(queries[1])} clips, {len(anchors[1])} anchors)')
        return {'metric': acc, 'top1': acc}

    def evaluation_report(self, metrics):
        return {'checkpoint': self.cli.evaluate, 'config': self.cli.config, 'oneshot_accuracy': metrics['top1']}

    def epoch_line(self, epoch, meters, metrics, lr, minutes):
        return '[%d] time %.2f lr %s train_loss_supcon %.4f test_top1 %.4f' % (
            epoch + 1, minutes, ['%g' % v for v in lr], meters['loss'].avg, metrics['top1'])

    def epoch_scalars(self, meters, metrics):
        return {'train_loss_supcon': meters['loss'].avg, 'test_top1': metrics['top1']}


def main(argv=None):
    trainer.main(OneShotTask, argv)


# --- the original's script-level functions (spec 00 §7.10), kept for compatibility -------------------------
parse_args = OneShotTask.parse_args


def extract_feats(dataloader_x, model):
    """Embeddings and labels of every sample of ``dataloader_x`` (the model's current mode is kept)."""
    return embeddings(model, lambda fn: trainer.predict_loader(dataloader_x, fn), next(model.parameters()).device)


def validate(anchor_loader, test_loader, model):
    """One-shot accuracy (fraction in [0, 1]) of the test clips against the anchors, in eval mode.

    The original evaluated in train mode (dropout active, so its accuracy was random); this is
    deterministic.
    """
    model.eval()
    return oneshot_accuracy(*extract_feats(anchor_loader, model), *extract_feats(test_loader, model))


def train_with_config(args, opts):
    """Train or evaluate with a loaded config; the config is checked first."""
    return trainer.run(OneShotTask, opts, args)


if __name__ == "__main__":
    run_cli(main)
