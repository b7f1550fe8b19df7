"""The one training engine behind every ``train*.py`` script.

It owns what the original copied into each script: the command line (:func:`main`), config
checking, seeding, device selection (CUDA if present, else CPU), ``torchrun`` multi-process
training (DistributedDataParallel), data loaders, model construction (the model factory),
fine-tune weight loading, the AdamW optimizer over the model's parameter groups with per-epoch
learning-rate decay, resuming (``--resume`` or automatically from ``latest_epoch.bin``),
evaluation-only runs (``--evaluate``), the console line and tensorboard scalars of each epoch,
progress bars, checkpoint writing (latest / best / every ``checkpoint_frequency`` epochs) and a
clean Ctrl-C. The ``--checkpoint`` folder is made only when training starts; a run failing before
its first checkpoint removes what it made there.

A script describes its task with a :class:`Task` subclass (settings; data in ``__init__``;
training passes, loss of one batch, evaluation, epoch line and scalars) and its ``main`` is
``trainer.main(TheTask, argv)``.
"""
import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import sys
import time
import warnings

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader, Sampler, Subset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from lib.model import factory
from lib.model.param_groups import backbone_of, param_groups
from lib.utils.checkpoint import (load_checkpoint, load_model_weights, model_state_for_saving, plain_number,
                                  remove_stale_temporaries, save_checkpoint, state_dict_from_checkpoint, unwrap_model)
from lib.utils.cli import add_debug_argument
from lib.utils.config_schema import validate_config
from lib.utils.errors import OptionError
from lib.utils.learning import (PRECISIONS, AverageMeter, load_pretrained_weights, partial_train_layers,
                                precision_context)
from lib.utils.outputs import check_output_folder
from lib.utils.tools import get_config


# ----------------------------------------------------------------------------------------------
# command line, seeding
# ----------------------------------------------------------------------------------------------
def parse_args(description, argv=None, selection_default="latest_epoch.bin",
               config_example="configs/pose3d/MB_ft_h36m.yaml"):
    """The flags every training script shares (the original's, plus device/worker/precision overrides)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help=f"YAML config, e.g. {config_example}")
    parser.add_argument("-c", "--checkpoint", default="checkpoint", type=str, metavar="PATH",
                        help="folder to write checkpoints and logs to")
    parser.add_argument("-p", "--pretrained", default=None, type=str, metavar="PATH",
                        help="folder of the pretrained checkpoint to finetune from (default: checkpoint); only "
                             "read when the config has finetune: true")
    parser.add_argument("-r", "--resume", default="", type=str, metavar="FILENAME",
                        help="checkpoint file to resume training from")
    parser.add_argument("-e", "--evaluate", default="", type=str, metavar="FILENAME",
                        help="checkpoint file to evaluate (no training)")
    parser.add_argument("-ms", "--selection", default=selection_default, type=str, metavar="FILENAME",
                        help="file name of the pretrained checkpoint inside --pretrained")
    parser.add_argument("-sd", "--seed", default=0, type=int, help="random seed")
    parser.add_argument("-freq", "--print_freq", default=100, type=int, help="batches between progress lines")
    parser.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if available)")
    parser.add_argument("--workers", default=None, type=int,
                        help="data-loader worker processes (default: the original's count, capped at the CPUs; "
                             "a run-for-run reproduction of the original needs its count, docs/pose3d.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="precision of evaluation (--evaluate and after every epoch): bf16 runs matrix products "
                             "in bfloat16 (faster on recent CPUs and GPUs), int8 the Linear layers as int8 products "
                             "(CPU only); see docs/performance.md")
    parser.add_argument("--amp", nargs="?", const="auto", default=None, choices=("auto", "bf16", "fp16"),
                        help="mixed-precision training: bf16 on the CPU, fp16 (with loss scaling) or bf16 on CUDA; "
                             "off by default")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the model (off by default: it did not speed up this backbone on the "
                             "CPUs measured, see docs/performance.md)")
    add_debug_argument(parser)
    cli = parser.parse_args(argv)
    cli.pretrained_given = cli.pretrained is not None  # given but unused is an error (check_pretrained)
    cli.pretrained = cli.pretrained or "checkpoint"
    return cli


def set_random_seed(seed):
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# device and processes
# ----------------------------------------------------------------------------------------------
class Runtime:
    """Device and process group of this run.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group (NCCL on GPUs, gloo on
    CPUs) and each process uses one device; otherwise one process on one device.
    """

    def __init__(self, device=None, workers=None, progress=True):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.distributed = self.world_size > 1
        if device is None:
            device = f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(device)
        except RuntimeError as e:
            raise OptionError(f"--device {device} is not a device name; use cpu, cuda or cuda:N") from e
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise OptionError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.distributed and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
        self.workers = workers
        self.progress = progress and self.is_main
        self._evaluation_loaders = {}

    @property
    def is_main(self):
        return self.rank == 0

    def print(self, *values, **kwargs):
        if self.is_main:
            print(*values, **kwargs, flush=True)

    def num_workers(self, original):
        """The original's worker count, capped by the CPUs available to this process."""
        if self.workers is not None:
            return self.workers
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(0, min(original, cpus // self.world_size))

    def _loader_settings(self, original_workers):
        workers = self.num_workers(original_workers)
        kwargs = dict(num_workers=workers, pin_memory=self.device.type == "cuda")
        if workers > 0:
            kwargs.update(prefetch_factor=4, persistent_workers=True)
        return kwargs

    def loader(self, dataset, batch_size, shuffle, original_workers=8, sampler=None, batchnorm=False):
        """A DataLoader with the original's settings; sharded across processes when distributed.

        A custom ``sampler`` runs identically in every process (same seed); each process then
        takes every ``world_size``-th batch of it. ``batchnorm``: the model normalises over the
        batch, so a last batch of a single sample (which BatchNorm cannot train on; the original
        crashed there) is dropped.
        """
        kwargs = self._loader_settings(original_workers)
        if self.distributed and sampler is not None:
            batches = ShardedBatches(BatchSampler(sampler, batch_size, drop_last=False), self.rank, self.world_size)
            return PersistentLoader(dataset, batch_sampler=batches, **kwargs)
        if self.distributed:
            sampler = DistributedSampler(dataset, shuffle=shuffle)
        per_process = len(sampler) if sampler is not None else len(dataset)
        drop_last = batchnorm and per_process % batch_size == 1
        return PersistentLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                                drop_last=drop_last, **kwargs)

    def wrap(self, model):
        """Move to the device; DistributedDataParallel when running under torchrun."""
        model = model.to(self.device)
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids,
                                                              find_unused_parameters=True)
        return model

    def predict(self, dataset, batch_size, fn, workers=8):
        """Run ``fn(batch) -> dict of arrays (batch first)`` over ``dataset`` in order.

        Each process handles a contiguous share; the results are gathered so that every process
        returns the arrays of the whole dataset, in dataset order. The loader of a dataset is made
        on its first evaluation and kept for the run, as the original's test loaders (``workers``:
        the original's count, persistent, prefetch 4).
        """
        key = (id(dataset), batch_size)
        if key not in self._evaluation_loaders:
            indices = np.array_split(np.arange(len(dataset)), self.world_size)[self.rank]
            share = Subset(dataset, indices.tolist()) if self.distributed else dataset
            loader = PersistentLoader(share, batch_size=batch_size, shuffle=False, **self._loader_settings(workers))
            self._evaluation_loaders[key] = dataset, loader  # the dataset is kept so that its id stays its own
        loader = self._evaluation_loaders[key][1]
        local = predict_loader(tqdm(loader, desc="evaluate", disable=not self.progress, leave=False), fn)
        if not self.distributed:
            return local
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, local)
        return {k: np.concatenate([g[k] for g in gathered if g]) for k in next(g for g in gathered if g)}

    def reduce_meters(self, meters):
        """Make every meter's average the average over all processes (weighted by counts)."""
        if not self.distributed:
            return meters
        names = sorted(meters)
        stats = torch.tensor([[float(meters[n].sum), float(meters[n].count)] for n in names], dtype=torch.float64)
        dist.all_reduce(stats)
        for n, (total, count) in zip(names, stats.tolist()):
            meters[n].sum, meters[n].count = total, count
            meters[n].avg = total / count if count else 0
        return meters

    def barrier(self):
        if self.distributed:
            dist.barrier()

    def close(self):
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


class PersistentLoader(DataLoader):
    """A DataLoader whose iterator is made once, on the first pass, and reset for the next ones.

    With worker processes this is what ``persistent_workers=True`` does. Without them, PyTorch
    makes a new iterator every pass, and each new iterator draws a worker base seed from torch's
    global generator; the original (12 persistent workers) draws it once per loader. Reusing the
    iterator here too makes torch's global random stream (and so the shuffling and everything
    drawn after it) independent of the worker count.
    """

    def __iter__(self):
        if self.num_workers > 0:
            return super().__iter__()
        if self._iterator is None:
            self._iterator = self._get_iterator()
        else:
            self._iterator._reset(self)
        return self._iterator


class ShardedBatches(Sampler):
    """Batches ``rank, rank + world_size, ...`` of a batch sampler."""

    def __init__(self, batch_sampler, rank, world_size):
        self.batch_sampler, self.rank, self.world_size = batch_sampler, rank, world_size

    def __iter__(self):
        return itertools.islice(iter(self.batch_sampler), self.rank, None, self.world_size)

    def __len__(self):
        return len(range(self.rank, len(self.batch_sampler), self.world_size))


def predict_loader(loader, fn):
    """``fn(batch) -> dict of arrays`` over the batches of ``loader``, concatenated in order (one process)."""
    parts = [fn(batch) for batch in loader]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


def optimise(batches, loss_of_batch, optimizer, scaler=None):
    """One optimizer step per batch: ``loss_of_batch(batch)``, ``zero_grad``, backward, step.

    ``scaler``: the ``GradScaler`` of fp16 training; a disabled one (the default) changes nothing.
    """
    if scaler is None:
        scaler = torch.amp.GradScaler("cpu", enabled=False)
    for batch in batches:
        loss = loss_of_batch(batch)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


# ----------------------------------------------------------------------------------------------
# tasks
# ----------------------------------------------------------------------------------------------
class TrainPass:
    """One pass over a training loader within an epoch (e.g. PoseTrack, then InstaVariety, then 3D)."""

    def __init__(self, name, loader, **step_kwargs):
        self.name = name
        self.loader = loader
        self.step_kwargs = step_kwargs


class Task:
    """What differs between the training scripts: settings (class attributes) and the hooks below.

    ``__init__`` reads the data; the engine builds the model (:meth:`build_model`, from the
    factory), the optimizer (:meth:`param_groups`, from the model), trains, evaluates, logs and
    writes checkpoints.
    """
    # --- settings ---------------------------------------------------------------------------------------
    model_task = "pose3d"            # lib.model.factory task of the model
    config_reader = None             # lib.utils.config_schema reader the config is checked against
    config_example = "configs/pose3d/MB_ft_h36m.yaml"  # in --help
    selection_default = "latest_epoch.bin"  # -ms: file name of the pretrained checkpoint
    model_key = "model"              # checkpoint entry of the weights
    best_key = "best_acc"            # checkpoint entry of the best metric
    best_initial = 0                 # its value before any evaluation
    higher_is_better = True
    meter_names = ()                 # training meters of an epoch
    # the original scripts differ here (spec 01 §9.5), so the settings do:
    lr_as_list = True                # checkpoint 'lr': the task scripts saved scheduler.get_last_lr(), train.py a float
    auto_resume_in_finetune = True   # train.py restarts a finetuning run from --pretrained, the others resume
    strict_finetune = False          # train.py and the one-shot script load --pretrained strictly, the others
                                     # copy the entries that fit (load_pretrained_weights)
    partial_train_only_in_finetune = False  # the one-shot script freezes layers only in its finetuning runs
    copy_config = False              # train_mesh.py copies its config into a new --checkpoint folder

    def __init__(self, cfg, cli, runtime):
        self.cfg, self.cli, self.runtime = cfg, cli, runtime

    @classmethod
    def parse_args(cls, argv=None):
        """The command line; its description is the first paragraph of the task script's docstring."""
        doc = sys.modules[cls.__module__].__doc__ or cls.__name__
        return parse_args(doc.split("\n\n")[0], argv, cls.selection_default, cls.config_example)

    def build_model(self):
        """The model of :attr:`model_task`, with the ``--pretrained`` backbone when
        :func:`finetuning_from_pretrained`, and ``partial_train`` applied to the backbone (the
        same on a fresh start and on resume, so that the optimizer state fits)."""
        cfg = self.cfg
        model = factory.build_model(cfg, self.model_task)  # backbone first, then head: the original's draws
        if finetuning_from_pretrained(cfg, self.cli):
            load_finetune_weights(model, self.cli, self.strict_finetune, self.runtime.print)
        if cfg.partial_train and (cfg.finetune or not self.partial_train_only_in_finetune):
            partial_train_layers(backbone_of(model), cfg.partial_train)
        return model

    def param_groups(self, model):
        """Optimizer parameter groups of the bare model: the model's own (spec 01 §9.6)."""
        return param_groups(model, self.cfg)

    def train_passes(self, epoch):
        """The :class:`TrainPass` list of this epoch."""
        raise NotImplementedError

    def train_step(self, model, batch, meters, **kwargs):
        """Loss of one batch (updates ``meters``)."""
        raise NotImplementedError

    def after_pass(self, model, train_pass):
        """Called after each training pass with the bare model (for evaluations the original runs
        between the passes of an epoch); nothing by default."""

    def evaluate(self, model):
        """Metrics dict with at least ``'metric'`` (the selection metric); prints its report."""
        raise NotImplementedError

    def epoch_line(self, epoch, meters, metrics, lr, minutes):
        """The console line of 0-based ``epoch`` (``lr``: the group learning rates it trained with)."""
        raise NotImplementedError

    def epoch_scalars(self, meters, metrics):
        """``{tensorboard tag: value}`` of an epoch (written at step ``epoch + 1``); none by default."""
        return {}

    def evaluation_report(self, metrics):
        """JSON-able summary written next to an evaluated checkpoint (None: write nothing)."""
        return None

    def is_better(self, metric, best):
        return metric > best if self.higher_is_better else metric < best


# ----------------------------------------------------------------------------------------------
# weights, checkpoints and interrupts
# ----------------------------------------------------------------------------------------------
def finetuning_from_pretrained(cfg, cli):
    """Whether the model starts from the ``--pretrained`` weights: finetuning, and neither resuming
    (``--resume`` or automatically) nor evaluating. :func:`run` settles the resume before building
    the model."""
    return bool(cfg.finetune) and not (cli.resume or cli.evaluate)


def check_pretrained(config, cli):
    """``--pretrained`` given on the command line but not read: an :class:`OptionError` when the config does not
    finetune; the warning to print when ``--resume``/``--evaluate`` give the weights instead; else None."""
    if not getattr(cli, "pretrained_given", False):
        return None
    source = getattr(config, "_config_path", None) or cli.config
    if not config.finetune:
        raise OptionError(f"--pretrained {cli.pretrained} is not used: {source} has finetune: false, so no weights "
                          f"are loaded from it; drop --pretrained, or set finetune: true in {source} to finetune")
    if cli.resume or cli.evaluate:
        flag = "--evaluate" if cli.evaluate else "--resume"
        return f"--pretrained {cli.pretrained} is not read: the weights come from {flag}"
    return None


def load_finetune_weights(model, cli, strict, print_fn=print):
    """Load the pretrained backbone (``model_pos`` of ``<--pretrained>/<--selection>``) into ``model``'s backbone.

    ``strict``: every entry must fit; otherwise the entries whose name and shape fit are copied
    and the rest skipped (:func:`load_pretrained_weights`), as the original scripts (spec 01 §9.5).
    """
    path = os.path.join(cli.pretrained, cli.selection)
    state = state_dict_from_checkpoint(load_checkpoint(path), "model_pos", path)
    backbone = backbone_of(model)
    # the original's messages: train.py loads a checkpoint into its model, the task scripts a backbone
    print_fn("Loading checkpoint" if backbone is model else "Loading backbone", path)
    if strict:
        load_model_weights(backbone, state, path)
    else:
        load_pretrained_weights(backbone, state)
    return model


@contextlib.contextmanager
def deferred_interrupt():
    """Hold back Ctrl-C while a checkpoint is being written, then deliver it."""
    received = []
    try:
        previous = signal.signal(signal.SIGINT, lambda *a: received.append(a))
    except ValueError:  # not the main thread: nothing to defer
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def training_checkpoint(epoch, lr, optimizer, model, model_key, best_key, best):
    """The original's checkpoint layout after 0-based ``epoch`` (spec 01 §9)."""
    return {"epoch": epoch + 1, "lr": lr, "optimizer": optimizer.state_dict(),
            model_key: model_state_for_saving(model), best_key: best}


class CheckpointWriter:
    def __init__(self, task, folder):
        self.task, self.folder = task, folder
        self.written = False  # a checkpoint was written by this run

    def save(self, name, epoch, optimizer, model, best):
        lrs = [g["lr"] for g in optimizer.param_groups]
        payload = training_checkpoint(epoch, lrs if self.task.lr_as_list else lrs[0], optimizer, model,
                                      self.task.model_key, self.task.best_key, best)
        with deferred_interrupt():
            save_checkpoint(os.path.join(self.folder, name), payload)
        self.written = True


# ----------------------------------------------------------------------------------------------
# the engine
# ----------------------------------------------------------------------------------------------
def main(task_cls, argv=None):
    """A training script's command line: parse the flags, read the config, train or evaluate."""
    cli = task_cls.parse_args(argv)
    run(task_cls, cli, get_config(cli.config))


def run(task_cls, cli, cfg=None):
    """Train (or, with ``--evaluate``, evaluate) the task described by ``task_cls``; returns the last metrics.

    ``cfg`` (the config; read from ``--config`` when None) is checked against the task's
    :attr:`Task.config_reader` first.
    """
    if cfg is None:
        cfg = get_config(cli.config)
    if task_cls.config_reader is not None:
        validate_config(cfg, task_cls.config_reader, training=not cli.evaluate)
    unused_pretrained = check_pretrained(cfg, cli)
    print(cfg)
    if not cli.evaluate:
        check_output_folder(cli.checkpoint, ["latest_epoch.bin", "best_epoch.bin"], option="--checkpoint")
    runtime = Runtime(device=cli.device, workers=cli.workers, progress=not cli.no_progress)
    if unused_pretrained:
        runtime.print(f"warning: {unused_pretrained}", file=sys.stderr)
    try:
        # an unusable --precision/--amp fails now, not after the first epoch
        precision_context(cli.precision, runtime.device)
        precision_context(_training_precision(cli.amp, runtime.device), runtime.device)
        return _run(task_cls, cli, cfg, runtime)
    except KeyboardInterrupt:
        latest = os.path.join(cli.checkpoint, "latest_epoch.bin")
        where = f"{latest} holds the last completed epoch" if os.path.exists(latest) else "no epoch completed"
        runtime.print(f"\nInterrupted: {where}; run the same command again to resume.", file=sys.stderr)
        raise SystemExit(130)
    finally:
        runtime.close()


def _run(task_cls, cli, cfg, runtime):
    set_random_seed(cli.seed)
    task = task_cls(cfg, cli, runtime)

    # decided before the model is built: a resumed run must not read the pretrained weights
    latest = os.path.join(cli.checkpoint, "latest_epoch.bin")
    if not (cli.evaluate or cli.resume) and os.path.exists(latest) and (
            task.auto_resume_in_finetune or not cfg.finetune):
        cli.resume = latest  # automatic resume
    checkpoint_path = cli.evaluate or cli.resume

    model = task.build_model()
    runtime.print("INFO: Trainable parameter count:", sum(p.numel() for p in model.parameters() if p.requires_grad))
    ckpt = None
    if checkpoint_path:
        runtime.print("Loading checkpoint", checkpoint_path)
        ckpt = load_checkpoint(checkpoint_path)
        load_model_weights(model, state_dict_from_checkpoint(ckpt, task.model_key, checkpoint_path), checkpoint_path)

    evaluate = _in_evaluation_precision(task.evaluate, cli, runtime)
    if cli.evaluate:
        model = model.to(runtime.device)
        metrics = evaluate(_compiled(model, cli))
        report = task.evaluation_report(metrics)
        if report is not None and runtime.is_main:
            _write_report(cli.evaluate, report)
        return metrics

    return _train(task, model, ckpt if cli.resume else None, evaluate, cli, cfg, runtime)


def _make_output_folder(task, cli):
    """The ``--checkpoint`` folder, made only now that the data, model and weights are loaded, so
    that a run failing before leaves nothing behind; returns whether this run created it."""
    new = not os.path.exists(cli.checkpoint)
    os.makedirs(cli.checkpoint, exist_ok=True)
    if new and task.copy_config:
        shutil.copy(cli.config, cli.checkpoint)  # a record of the run's settings, as the original
    remove_stale_temporaries(cli.checkpoint)  # left by a run killed while writing a checkpoint
    return new


def _restore(ckpt, optimizer, task, cli, runtime):
    """Epoch to start from and best metric so far; the optimizer state is loaded from ``ckpt``.

    The best metric is the better of the checkpoint's and that of the ``best_epoch.bin`` already in
    the output folder: a run killed after writing ``best_epoch.bin`` but before ``latest_epoch.bin``
    repeats that epoch, and must not replace the best model by a worse one.
    """
    if ckpt is None:
        return 0, task.best_initial
    start_epoch = ckpt.get("epoch", 0)
    if ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    else:
        warnings.warn("this checkpoint has no optimizer state; the optimizer starts afresh")
    best = plain_number(ckpt[task.best_key]) if ckpt.get(task.best_key) is not None else task.best_initial
    best_file = os.path.join(cli.checkpoint, "best_epoch.bin")
    if os.path.exists(best_file) and os.path.abspath(best_file) != os.path.abspath(cli.resume):
        saved = load_checkpoint(best_file).get(task.best_key)
        if saved is not None and task.is_better(plain_number(saved), best):
            best = plain_number(saved)
    runtime.print(f"Resuming after epoch {start_epoch} (best {task.best_key} {best})")
    return start_epoch, best


def _train(task, model, resume_ckpt, evaluate, cli, cfg, runtime):
    model = runtime.wrap(model)
    bare = unwrap_model(model)
    model = _compiled(model, cli)
    amp = _training_precision(cli.amp, runtime.device)
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=amp == "fp16")
    groups = task.param_groups(bare)
    optimizer = torch.optim.AdamW(groups, lr=groups[0]["lr"], weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=cfg.lr_decay)
    start_epoch, best = _restore(resume_ckpt, optimizer, task, cli, runtime)

    saver = CheckpointWriter(task, cli.checkpoint)
    with _output_folder(task, cli, saver, runtime) as writer:
        after_pass = _in_evaluation_precision(task.after_pass, cli, runtime)
        frequency = cfg.get("checkpoint_frequency")  # pose3d and mesh configs; the action scripts write none
        metrics = None
        for epoch in range(start_epoch, cfg.epochs):
            runtime.print(f"Training epoch {epoch}.")
            start = time.time()
            meters = {name: AverageMeter() for name in task.meter_names}
            for train_pass in task.train_passes(epoch):
                sampler = getattr(train_pass.loader, "sampler", None)
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(epoch)
                model.train()

                def loss_of_batch(batch):
                    with precision_context(amp, runtime.device):
                        return task.train_step(model, batch, meters, **train_pass.step_kwargs)

                optimise(tqdm(train_pass.loader, desc=f"epoch {epoch + 1}/{cfg.epochs} {train_pass.name}",
                              disable=not runtime.progress, leave=False), loss_of_batch, optimizer, scaler)
                after_pass(bare, train_pass)
            runtime.reduce_meters(meters)
            lr_before = [g["lr"] for g in optimizer.param_groups]
            metrics = evaluate(bare)
            scheduler.step()
            minutes = (time.time() - start) / 60
            metric = metrics.get("metric") if metrics else None
            improved = metric is not None and task.is_better(metric, best)
            if improved:
                best = metric
            if runtime.is_main:
                print(task.epoch_line(epoch, meters, metrics, lr_before, minutes), flush=True)
                for tag, value in task.epoch_scalars(meters, metrics).items():
                    writer.add_scalar(tag, value, epoch + 1)
                # every file holds the best metric including this epoch; best_epoch.bin is written before
                # latest_epoch.bin, so that a kill in between repeats this epoch instead of losing its model
                if improved:
                    print("save best checkpoint", flush=True)
                    saver.save("best_epoch.bin", epoch, optimizer, bare, best)
                if frequency and (epoch + 1) % frequency == 0:
                    saver.save(f"epoch_{epoch}.bin", epoch, optimizer, bare, best)
                saver.save("latest_epoch.bin", epoch, optimizer, bare, best)
            runtime.barrier()
    return metrics


@contextlib.contextmanager
def _output_folder(task, cli, saver, runtime):
    """The ``--checkpoint`` folder and its tensorboard writer (main process; None elsewhere). A run failing
    before its first checkpoint (bad data in the first batch, Ctrl-C) removes what it made there: the folder
    if it was new, else its ``logs`` folder if new, else the new files in it."""
    logs = os.path.join(cli.checkpoint, "logs")
    logs_before = set(os.listdir(logs)) if os.path.isdir(logs) else None
    created, writer, failed = False, None, False
    try:
        if runtime.is_main:
            created = _make_output_folder(task, cli)
            from tensorboardX import SummaryWriter
            writer = SummaryWriter(logs)
        yield writer
    except BaseException:
        failed = True
        raise
    finally:
        if writer is not None:
            writer.close()
        if failed and runtime.is_main and not saver.written:
            made = ([cli.checkpoint] if created else [logs] if logs_before is None
                    else [os.path.join(logs, name) for name in set(os.listdir(logs)) - logs_before])
            for path in made:
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)


def _in_evaluation_precision(fn, cli, runtime):
    """``fn`` (an evaluation) in the precision asked for with ``--precision``."""
    def evaluate(*inputs):
        with precision_context(cli.precision, runtime.device):
            return fn(*inputs)
    return evaluate


def _compiled(model, cli):
    return torch.compile(model) if cli.compile else model


def _training_precision(amp, device):
    """``--amp`` → the autocast precision of training steps (``'fp32'`` when off)."""
    if amp is None:
        return "fp32"
    if amp == "auto":
        return "fp16" if device.type == "cuda" else "bf16"
    return amp


def _write_report(checkpoint_file, report):
    path = os.path.splitext(checkpoint_file)[0] + "_eval.json"
    try:
        with open(path, "w") as f:
            json.dump(report, f, indent=1, default=float)
        print(f"wrote {path}")
    except OSError as e:
        warnings.warn(f"could not write the evaluation report next to the checkpoint ({e})")
