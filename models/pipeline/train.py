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


def ds_cnn(frames: int, mels: int, classes: int, width: int) -> tf.keras.Model:
    """A DS-CNN: one strided conv, four depthwise-separable blocks, frequency pooling, two dense layers."""
    inp = tf.keras.Input((frames, mels, 1))
    x = tf.keras.layers.Conv2D(width, (5, 3), strides=(2, 2), padding="same", use_bias=False)(inp)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.ReLU()(x)
    for i, stride in enumerate([(1, 1), (2, 2), (1, 1), (1, 1)]):
        x = tf.keras.layers.DepthwiseConv2D((3, 3), strides=stride, padding="same", use_bias=False)(x)
        x = tf.keras.layers.BatchNormalization()(x)
        x = tf.keras.layers.ReLU()(x)
        x = tf.keras.layers.Conv2D(width, 1, use_bias=False)(x)
        x = tf.keras.layers.BatchNormalization()(x)
        x = tf.keras.layers.ReLU()(x)
        if i == 1:
            x = tf.keras.layers.Dropout(0.1)(x)
    # Average over frequency but keep time: where in the window a keyword ends matters.
    x = tf.keras.layers.AveragePooling2D((1, x.shape[2]))(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dropout(0.3)(x)
    x = tf.keras.layers.Dense(64, activation="relu")(x)
    out = tf.keras.layers.Dense(classes, activation="softmax")(x)
    return tf.keras.Model(inp, out)


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


def main() -> None:
    """Train on work/train.npz; write work/kws_float.keras and the int8 model."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--out", type=Path, default=None, help="int8 .tflite path (default work/kws.tflite)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--negatives", type=int, default=12000, help="negative windows drawn per epoch")
    ap.add_argument("--repeat", type=int, default=2, help="times each positive window is seen per epoch")
    ap.add_argument("--negative-weight", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay)")
    ap.add_argument("--init", type=Path, default=None, help="a .keras model to continue training")
    args = ap.parse_args()
    tf.keras.utils.set_random_seed(args.seed)
    tf.config.threading.set_intra_op_parallelism_threads(2)
    data = np.load(args.work / "train.npz")
    x = data["x"].astype(np.float32)[..., None]
    y = data["y"].astype(np.int64)
    keywords = tomllib.loads(
        (Path(__file__).resolve().parents[1] / "keywords.toml").read_text(encoding="utf-8")
    )
    classes = len(keywords["group"]) + 1
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    n_val = max(1, len(y) // 10)
    xv, yv = x[:n_val], y[:n_val]
    xt, yt = x[n_val:], y[n_val:]
    pos = np.nonzero(yt > 0)[0]
    neg = np.nonzero(yt == 0)[0]
    per_epoch_neg = min(len(neg), args.negatives)
    if args.init:
        # Continue training an earlier run (same classes) instead of starting from scratch.
        model = ds_cnn(x.shape[1], x.shape[2], classes, args.width)
        load_weights_by_name(model, args.init)
    else:
        model = ds_cnn(x.shape[1], x.shape[2], classes, args.width)
    steps = args.epochs * int(np.ceil((per_epoch_neg + args.repeat * len(pos)) / 128))
    lr = tf.keras.optimizers.schedules.CosineDecay(args.lr, steps, alpha=0.02)
    model.compile(tf.keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.time()
    for epoch in range(args.epochs):
        # Each epoch: a fresh draw of negatives, every positive `repeat` times with SpecAugment-style masks.
        idx = np.concatenate([rng.choice(neg, per_epoch_neg, replace=False), np.tile(pos, args.repeat)])
        rng.shuffle(idx)
        xe = xt[idx].copy()
        ye = yt[idx]
        # Masks on every class alike (a mask only on positives would itself become the cue).
        for i in np.nonzero(rng.random(len(ye)) < 0.5)[0]:
            f0 = rng.integers(0, xe.shape[2] - 4)
            xe[i, :, f0 : f0 + rng.integers(1, 4)] = 0.0
            t0m = rng.integers(0, xe.shape[1] - 8)
            xe[i, t0m : t0m + rng.integers(1, 6)] = 0.0
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
        print(f"epoch {epoch + 1}/{args.epochs} {time.time() - t0:.0f}s", flush=True)
    print(f"trained in {time.time() - t0:.0f}s, {model.count_params()} parameters", flush=True)
    model.save(args.work / "kws_float.keras")

    def representative():
        for i in rng.choice(len(y), size=min(400, len(y)), replace=False):
            yield [x[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    blob = converter.convert()
    out = args.out or (args.work / "kws.tflite")
    out.write_bytes(blob)
    report = {
        "continued_from": str(args.init) if args.init else None,
        "parameters": int(model.count_params()),
        "train_seconds": round(time.time() - t0),
        "epochs": args.epochs,
        "width": args.width,
        "val_accuracy_float": float(model.evaluate(x[:n_val], y[:n_val], verbose=0)[1]),
    }
    (args.work / "train.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"wrote {out} ({len(blob)} bytes)", json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
