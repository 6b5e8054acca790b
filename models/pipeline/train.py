"""Train the DS-CNN keyword spotter and export it as a full-int8 TFLite model (run in models/.venv-train)."""

from __future__ import annotations

import argparse
import json
import os
import time
import tomllib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

WORK = Path(__file__).resolve().parents[1] / "work"


def ds_cnn(frames: int, mels: int, classes: int, width: int, folded: bool = False) -> tf.keras.Model:
    """A DS-CNN: one strided conv, four depthwise-separable blocks, frequency pooling, two dense layers.

    The model ends in logits, not a softmax: an int8 softmax output has steps of 1/256 and saturates at
    0.996, where ordinary speech and keywords become indistinguishable; the appliance applies the softmax
    in float (metadata "output": "logits").

    ``folded``: each batch normalisation folded into the convolution before it (a bias instead), the form
    the int8 export keeps; training continues from a shipped .tflite in this form (``from_tflite``).
    """

    def norm(x: tf.Tensor) -> tf.Tensor:
        return x if folded else tf.keras.layers.BatchNormalization()(x)

    inp = tf.keras.Input((frames, mels, 1))
    x = tf.keras.layers.Conv2D(width, (5, 3), strides=(2, 2), padding="same", use_bias=folded)(inp)
    x = norm(x)
    x = tf.keras.layers.ReLU()(x)
    for i, stride in enumerate([(1, 1), (2, 2), (1, 1), (1, 1)]):
        x = tf.keras.layers.DepthwiseConv2D((3, 3), strides=stride, padding="same", use_bias=folded)(x)
        x = norm(x)
        x = tf.keras.layers.ReLU()(x)
        x = tf.keras.layers.Conv2D(width, 1, use_bias=folded)(x)
        x = norm(x)
        x = tf.keras.layers.ReLU()(x)
        if i == 1:
            x = tf.keras.layers.Dropout(0.1)(x)
    # Average over frequency but keep time: where in the window a keyword ends matters.
    x = tf.keras.layers.AveragePooling2D((1, x.shape[2]))(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dropout(0.3)(x)
    x = tf.keras.layers.Dense(64, activation="relu")(x)
    out = tf.keras.layers.Dense(classes)(x)
    return tf.keras.Model(inp, out)


def from_tflite(path: Path) -> tf.keras.Model:
    """The float model (folded form) whose int8 export is ``path``: weights dequantized per channel.

    The shipped model's float weights are not kept, only its int8 graph; continuing from it keeps all the
    training it had. The graph must be this file's DS-CNN (5 convolutions, 4 depthwise, 2 dense).
    """
    interpreter = tf.lite.Interpreter(
        str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    details = interpreter.get_tensor_details()

    def tensor(index: int) -> np.ndarray:
        q = details[index]["quantization_parameters"]
        value = interpreter.get_tensor(index).astype(np.float32)
        shape = [1] * value.ndim
        shape[q["quantized_dimension"]] = -1
        return (value - q["zero_points"].reshape(shape)) * q["scales"].reshape(shape)

    weighted = [
        op
        for op in interpreter._get_ops_details()
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    ]
    kinds = [op["op_name"] for op in weighted]
    if kinds != ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4 + ["FULLY_CONNECTED"] * 2:
        raise SystemExit(f"{path}: not this pipeline's DS-CNN ({kinds})")
    frames, mels = interpreter.get_input_details()[0]["shape"][1:3]
    classes = int(interpreter.get_output_details()[0]["shape"][-1])
    width = int(tensor(int(weighted[0]["inputs"][1])).shape[0])
    model = ds_cnn(int(frames), int(mels), classes, width, folded=True)
    layers = [layer for layer in model.layers if layer.weights]
    for layer, op in zip(layers, weighted, strict=True):
        kernel, bias = tensor(int(op["inputs"][1])), tensor(int(op["inputs"][2]))
        # Convolutions: tflite [out, h, w, in] -> keras [h, w, in, out]; depthwise [1, h, w, channels] ->
        # [h, w, channels, 1] is the same transpose. Dense: [out, in] -> [in, out].
        kernel = kernel.transpose(1, 2, 3, 0) if kernel.ndim == 4 else kernel.T
        layer.set_weights([kernel, bias])
    return model


def widened(model: tf.keras.Model, width: int, seed: int, noise: float = 0.01) -> tf.keras.Model:
    """The same function in a wider folded DS-CNN (Net2WiderNet): each new channel copies an old one.

    Every convolution's output channel ``j`` is old channel ``mapping[j]`` (the first ``old`` map to
    themselves, the rest to random old channels); the layer reading them divides each copy's weights by
    the number of copies, so the logits are unchanged before training. A little noise on the copies' own
    weights lets them drift apart (``noise`` 0: the same logits exactly). ``model`` must be the folded
    form: batch normalisation statistics would not carry over to copied channels this way.
    """
    layers = [layer for layer in model.layers if layer.weights]
    old = int(layers[0].get_weights()[0].shape[-1])
    if width <= old:
        raise SystemExit(f"--widen {width}: the model is already {old} wide")
    rng = np.random.default_rng(seed)
    frames, mels = model.input_shape[1:3]
    classes = int(model.output_shape[-1])
    wide = ds_cnn(int(frames), int(mels), classes, width, folded=True)
    wide_layers = [layer for layer in wide.layers if layer.weights]
    mapping = np.concatenate([np.arange(old), rng.integers(0, old, width - old)])
    copies = np.bincount(mapping, minlength=old).astype(np.float32)

    def jitter(kernel: np.ndarray) -> np.ndarray:
        kernel = kernel.copy()
        kernel[..., old:] *= 1.0 + noise * rng.standard_normal(kernel[..., old:].shape)
        return kernel.astype(np.float32)

    first_dense = len(layers) - 2
    for i, (layer, target) in enumerate(zip(layers, wide_layers, strict=True)):
        kernel, bias = layer.get_weights()
        if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            # One filter per channel: a copied channel gets its original's filter.
            target.set_weights([kernel[:, :, mapping, :], bias[mapping]])
        elif isinstance(layer, tf.keras.layers.Conv2D):
            if i > 0:
                kernel = kernel[:, :, mapping, :] / copies[mapping][None, None, :, None]
            target.set_weights([jitter(kernel[..., mapping]), bias[mapping]])
        elif i == first_dense:
            # The first dense layer reads (time, channel) features flattened time-major.
            steps = kernel.shape[0] // old
            k = kernel.reshape(steps, old, -1)[:, mapping, :] / copies[mapping][None, :, None]
            target.set_weights([k.reshape(steps * width, -1), bias])
        else:
            target.set_weights([kernel, bias])
    return wide


def load_windows(paths: list[Path], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows (float16) and labels from train.npz files; longer windows cut to their last ``frames``.

    A cut window is centred again, as the front end centres each window it gives the model: a 2 s
    verifier window cut this way is exactly the keyword model's window ending at the same frame.
    """
    xs, ys = [], []
    for path in paths:
        data = np.load(path)
        x = data["x"]
        if frames and x.shape[1] > frames:
            cut = x[:, -frames:, :].astype(np.float32)
            x = (cut - cut.mean(axis=(1, 2), keepdims=True)).astype(np.float16)
        xs.append(x)
        ys.append(data["y"].astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def is_folded(path: Path) -> bool:
    """Whether a saved .keras model is the folded form (no batch normalisation layers)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return b"BatchNormalization" not in archive.read("config.json")


def load_weights_by_name(model: tf.keras.Model, path: Path) -> None:
    """Copy weights from a saved .keras archive layer by layer name (weightless layers may differ)."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
        for layer in model.layers:
            if layer.weights:
                group = f["layers"][layer.name]["vars"]
                layer.set_weights([group[str(i)][()] for i in range(len(group))])


def width_of(model: tf.keras.Model) -> int:
    """The DS-CNN's channel count (its first convolution's filters)."""
    return int(next(layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)).filters)


def export_int8(model: tf.keras.Model, x: np.ndarray, rng: np.random.Generator, out: Path) -> bytes:
    """Write ``model`` as full int8 (int8 input, int8 logits), calibrated on up to 1 000 windows of ``x``."""

    def representative():
        for i in rng.choice(len(x), size=min(1000, len(x)), replace=False):
            yield [x[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    blob = converter.convert()
    out.write_bytes(blob)
    return blob


def posteriors(model: tf.keras.Model, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """The model's class posteriors (softmax of its logits) for each window."""
    out = np.empty((len(x), int(model.output_shape[-1])), dtype=np.float32)
    infer = tf.function(lambda v: model(v, training=False), reduce_retracing=True)
    for i in range(0, len(x), batch):
        logits = infer(x[i : i + batch].astype(np.float32)[..., None]).numpy()
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        out[i : i + batch] = p / p.sum(axis=1, keepdims=True)
    return out


def keyword_score(model: tf.keras.Model, x: np.ndarray) -> np.ndarray:
    """Highest keyword posterior of each window (how much a negative looks like some keyword)."""
    return posteriors(model, x)[:, 1:].max(axis=1)


def own_class_score(model: tf.keras.Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each window's posterior for its own label (how surely the model hears a positive as its keyword)."""
    return posteriors(model, x)[np.arange(len(y)), y]


def timbre_augment(x: np.ndarray, rng: np.random.Generator, warp: float, tilt: float) -> None:
    """Half the windows, every class alike: warp the mel axis (vocal tract length) and tilt the spectrum.

    Held-out voice variants were the largest single cause of misses (recall 0.26-0.81 by variant); a
    speaker's formant scale and spectral slope are what differ between them, so training varies both.
    """
    picked = np.nonzero(rng.random(len(x)) < 0.5)[0]
    mels = x.shape[2]
    bins = np.arange(mels, dtype=np.float32)
    for chunk in np.array_split(picked, max(1, len(picked) // 4096)):
        v = x[chunk, :, :, 0]
        if warp:
            alpha = rng.uniform(1.0 - warp, 1.0 + warp, size=(len(chunk), 1)).astype(np.float32)
            src = np.clip(bins[None, :] * alpha, 0, mels - 1)
            lo = np.floor(src).astype(np.int64)
            hi = np.minimum(lo + 1, mels - 1)
            w = (src - lo)[:, None, :]
            v = np.take_along_axis(v, lo[:, None, :].repeat(v.shape[1], 1), 2) * (1 - w) + (
                np.take_along_axis(v, hi[:, None, :].repeat(v.shape[1], 1), 2) * w
            )
        if tilt:
            slope = rng.uniform(-tilt, tilt, size=(len(chunk), 1, 1)).astype(np.float32)
            v = v + slope * (bins / (mels - 1) - 0.5)[None, None, :]
        # The front end removes each window's mean; keep the augmented windows the same.
        x[chunk, :, :, 0] = v - v.mean(axis=(1, 2), keepdims=True)


def main() -> None:
    """Train on work/train.npz (+ a rendered pool); write work/kws_float.keras and the int8 model."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--out", type=Path, default=None, help="int8 .tflite path (default work/kws.tflite)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--negatives", type=int, default=12000, help="random negative windows drawn per epoch")
    ap.add_argument("--repeat", type=int, default=2, help="times each positive window is seen per epoch")
    ap.add_argument("--negative-weight", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay)")
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="a .keras model, or an int8 .tflite of this DS-CNN, to continue",
    )
    ap.add_argument("--data", type=Path, action="append", default=[], help="train.npz files (default WORK's)")
    ap.add_argument(
        "--frames", type=int, default=0, help="train on the last FRAMES frames of each window (0 = as stored)"
    )
    ap.add_argument("--pool", type=Path, nargs="+", default=[], help="folders from pipeline/pool.py to add")
    ap.add_argument(
        "--real",
        type=Path,
        action="append",
        default=[],
        help="real.npz from build.py --extra: a site's windows, every one of them in every epoch",
    )
    ap.add_argument("--real-repeat", type=int, default=8, help="times each real window is seen per epoch")
    ap.add_argument("--hard", type=int, default=0, help="hardest negatives (mined) added to each epoch")
    ap.add_argument(
        "--hard-positives",
        type=int,
        default=0,
        help="positives the current model hears least as their own keyword (mined), shown more each epoch",
    )
    ap.add_argument(
        "--hard-positive-repeat",
        type=int,
        default=3,
        help="extra times each mined positive is seen per epoch",
    )
    ap.add_argument("--mine-every", type=int, default=3, help="epochs between hard-negative mining")
    ap.add_argument("--mine-sample", type=int, default=80000, help="negatives scored per mining round")
    ap.add_argument(
        "--warp", type=float, default=0.0, help="vocal-tract warp of the mel axis: factor 1 +- this (0 = off)"
    )
    ap.add_argument(
        "--widen",
        type=int,
        default=0,
        help="continue --init in a network this wide (Net2WiderNet; 0 = as is)",
    )
    ap.add_argument("--tilt", type=float, default=0.0, help="random spectral tilt, +- this many log units")
    args = ap.parse_args()
    if args.hard_positives < 0 or args.hard_positive_repeat < 0:
        ap.error("--hard-positives and --hard-positive-repeat count windows: 0 or more")
    folded = bool(args.init) and (args.init.suffix == ".tflite" or is_folded(args.init))
    if args.widen and not folded:
        raise SystemExit("--widen needs a folded model to continue (an int8 .tflite or a folded .keras)")
    tf.keras.utils.set_random_seed(args.seed)
    tf.config.threading.set_intra_op_parallelism_threads(2)
    # A pool alone is enough to continue a model; a run from scratch also reads WORK's train.npz.
    paths = args.data or ([] if args.pool and args.init else [args.work / "train.npz"])
    parts = [load_windows(paths, args.frames)] if paths else []
    for pool in args.pool:
        parts.append((np.load(pool / "pool_x.npy"), np.load(pool / "pool_y.npy").astype(np.int64)))
    synthetic = sum(len(p[1]) for p in parts)
    for path in args.real:
        with np.load(path) as real:
            parts.append((real["x"], real["y"].astype(np.int64)))
    x16 = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    # Real windows are few: kept out of the random draws and the validation split, shown whole each epoch.
    real_idx = np.arange(synthetic, len(y))
    keywords = tomllib.loads(
        (Path(__file__).resolve().parents[1] / "keywords.toml").read_text(encoding="utf-8")
    )
    classes = len(keywords["group"]) + 1
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(synthetic)
    n_val = max(1, min(synthetic // 10, 20000))
    val_idx, train_idx = order[:n_val], order[n_val:]
    xv, yv = x16[val_idx].astype(np.float32)[..., None], y[val_idx]
    pos = train_idx[y[train_idx] > 0]
    neg = train_idx[y[train_idx] == 0]
    per_epoch_neg = min(len(neg), args.negatives)
    if args.init and args.init.suffix == ".tflite":
        model = from_tflite(args.init)
    else:
        model = ds_cnn(x16.shape[1], x16.shape[2], classes, args.width, folded=folded)
        if args.init:
            # Continue an earlier run (same classes and layers) instead of starting from scratch.
            load_weights_by_name(model, args.init)
    if args.widen:
        model = widened(model, args.widen, args.seed)
    hard_positives = min(args.hard_positives, len(pos))
    per_epoch = (
        per_epoch_neg
        + args.hard
        + args.repeat * len(pos)
        + args.hard_positive_repeat * hard_positives
        + args.real_repeat * len(real_idx)
    )
    steps = args.epochs * int(np.ceil(per_epoch / 128))
    lr = tf.keras.optimizers.schedules.CosineDecay(args.lr, steps, alpha=0.02)
    model.compile(
        tf.keras.optimizers.Adam(lr),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(
        f"{len(pos)} positive and {len(neg)} negative training windows, {len(real_idx)} real ones;"
        f" {per_epoch} per epoch",
        flush=True,
    )
    t0 = time.time()
    hard = np.zeros(0, dtype=np.int64)
    hard_pos = np.zeros(0, dtype=np.int64)
    for epoch in range(args.epochs):
        if hard_positives and epoch % args.mine_every == 0:
            # Hard-positive mining, the synthetic analogue of a site's labelled misses (which raised recall
            # where its caught words did not). Measured in stage 18: it lowers the dev objective, so it is
            # off by default (MODEL_CARD.md, "Hard positives").
            tm = time.time()
            own = own_class_score(model, x16[pos], y[pos])
            ranked = np.argsort(own)
            hard_pos = pos[ranked[:hard_positives]]
            print(
                f"mined {len(hard_pos)} hard positives (own-class score <= {own[ranked[hard_positives - 1]]:.3f};"
                f" {int((own < 0.5).sum())} of {len(pos)} below 0.5) in {time.time() - tm:.0f}s",
                flush=True,
            )
        if args.hard and epoch % args.mine_every == 0:
            # Hard-negative mining: the negatives the current model most mistakes for a keyword.
            tm = time.time()
            # A fresh random sample each round: scoring every negative costs more than an epoch.
            sample = rng.choice(neg, min(len(neg), args.mine_sample), replace=False)
            sample = np.union1d(sample, hard)
            scores = keyword_score(model, x16[sample])
            hard = sample[np.argsort(scores)[::-1][: args.hard]]
            print(
                f"mined {len(hard)} hard negatives (score >= {scores[np.argsort(scores)[::-1][len(hard) - 1]]:.3f};"
                f" {int((scores > 0.5).sum())} above 0.5) in {time.time() - tm:.0f}s",
                flush=True,
            )
        # Each epoch: a fresh draw of negatives, the mined ones, every positive `repeat` times and the mined
        # positives `hard_positive_repeat` times more.
        idx = np.concatenate(
            [
                rng.choice(neg, per_epoch_neg, replace=False),
                hard,
                np.tile(pos, args.repeat),
                np.tile(hard_pos, args.hard_positive_repeat),
                np.tile(real_idx, args.real_repeat),
            ]
        )
        rng.shuffle(idx)
        xe = x16[idx].astype(np.float32)[..., None]
        ye = y[idx]
        # SpecAugment-style masks on every class alike (a mask only on positives would itself become a cue).
        for i in np.nonzero(rng.random(len(ye)) < 0.5)[0]:
            f0 = rng.integers(0, xe.shape[2] - 4)
            xe[i, :, f0 : f0 + rng.integers(1, 4)] = 0.0
            t0m = rng.integers(0, xe.shape[1] - 8)
            xe[i, t0m : t0m + rng.integers(1, 6)] = 0.0
        if args.warp or args.tilt:
            timbre_augment(xe, rng, args.warp, args.tilt)
        # Negatives weigh more: a false warning to a citizen is worse than a missed insult.
        weights = np.where(ye == 0, args.negative_weight, 1.0).astype(np.float32)
        model.fit(
            xe,
            ye,
            sample_weight=weights,
            validation_data=(xv, yv) if epoch == args.epochs - 1 or epoch % 3 == 0 else None,
            epochs=1,
            batch_size=128,
            verbose=2,
        )
        del xe
        print(f"epoch {epoch + 1}/{args.epochs} {time.time() - t0:.0f}s", flush=True)
        model.save(args.work / "kws_float.keras")
    print(f"trained in {time.time() - t0:.0f}s, {model.count_params()} parameters", flush=True)
    out = args.out or (args.work / "kws.tflite")
    blob = export_int8(model, xv, rng, out)
    report = {
        "continued_from": str(args.init) if args.init else None,
        "widened_to": args.widen or None,
        "parameters": int(model.count_params()),
        "train_seconds": round(time.time() - t0),
        "epochs": args.epochs,
        "width": width_of(model),
        "frames": int(x16.shape[1]),
        "val_accuracy_float": float(model.evaluate(xv, yv, verbose=0)[1]),
        "output": "logits",
        "pool": [str(p) for p in args.pool] or None,
        "real": [str(p) for p in args.real] or None,
        "real_windows": len(real_idx),
        "real_repeat": args.real_repeat,
        "hard_negatives_per_epoch": args.hard,
        "hard_positives": hard_positives,
        "hard_positive_repeat": args.hard_positive_repeat,
        # The rest of the command line, so a stage can be rerun from its record alone.
        "lr": args.lr,
        "seed": args.seed,
        "negatives_per_epoch": args.negatives,
        "repeat": args.repeat,
        "negative_weight": args.negative_weight,
        "mine_every": args.mine_every,
        "mine_sample": args.mine_sample,
        "warp": args.warp,
        "tilt": args.tilt,
    }
    (args.work / "train.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"wrote {out} ({len(blob)} bytes)", json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
