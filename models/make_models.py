#!/usr/bin/python3
"""Produces the bundled model repository with real PyTorch (Debian's python3-torch):

  seed/    the seed example, nn.Sequential(Conv2d(1,20,5), ReLU(), Conv2d(20,64,5), ReLU()),
           PyTorch's default initialisation (a feature extractor: nothing to train)
  lenet/   LeNet-5 (a small CNN classifier) trained on a synthetic 10-class task
  mlp/     an MLP classifier (784-128-64-10) trained on the same task, OrderedDict form
  textclass/  a small BERT-style text classifier (BERT-mini's sizes): 128 int64 token ids ->
           Embedding(1000, 256) -> TransformerEncoder(4 layers, d_model 256, 4 heads) ->
           Flatten -> Linear -> 4 classes, briefly trained on a synthetic keyword task
  superres/  an ESPCN-style super-resolution net for 1-channel images of any size: three
           convolutions (5x5, 3x3, 3x3, Tanh between) make 9 channels that PixelShuffle(3)
           turns into a 3x larger image, then Upsample(scale_factor=2, bicubic): 6x in all;
           the convolutions briefly trained to undo a 3x box downsampling of sharp shapes

The image task: 28x28 images of a line through the centre at one of 10 angles (class k: 18k
degrees), with random thickness, length, offset and noise. Training takes seconds on CPU.
The text task: 128 random word ids (5..999) with 12 copies of keyword c + 1 (ids 1..4) at
random places, class c; 40 Adam steps (a few minutes on two cores).
The image task of superres: discs and boxes at 48x48, box-downsampled to 16x16; the net
learns to map the small image back (before its final fixed 2x Upsample); 800 Adam steps
(under a minute). Its test error is about 0.6x that of bicubic 3x upscaling.
For every model it also writes tests/data/bundled/<name>/{input.npy, expected.npy}: a
few samples and PyTorch's outputs for them, used by the server and container tests
(textclass's input.npy holds int64 ids).

Usage: /usr/bin/python3 models/make_models.py [name ...]   (default: all)
"""
import math
import os
import sys

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "..", "tests", "golden"))
import golden  # noqa: E402  (model.seq evaluation, safetensors writer)

MODELS = {
    "seed": """nn.Sequential(
          nn.Conv2d(1,20,5),
          nn.ReLU(),
          nn.Conv2d(20,64,5),
          nn.ReLU()
        )
""",
    "lenet": """# LeNet-5 with ReLU and max pooling, for 1x28x28 images and 10 classes.
nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5, padding=2),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(6, 16, kernel_size=5),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(16 * 5 * 5, 120),
    nn.ReLU(),
    nn.Linear(120, 84),
    nn.ReLU(),
    nn.Linear(84, 10),
)
""",
    "textclass": """# A small BERT-style text classifier: 128 token ids in, scores for 4 classes out.
nn.Sequential(
    nn.Embedding(1000, 256),
    nn.TransformerEncoder(
        nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024, batch_first=True),
        num_layers=4,
    ),
    nn.Flatten(),
    nn.Linear(128 * 256, 4),
)
""",
    "superres": """# ESPCN-style super-resolution: a 1-channel image of any size in, 6x its height and width
# out (PixelShuffle(3) from 9 channels, then a bicubic 2x Upsample).
nn.Sequential(
    nn.Conv2d(1, 64, 5, padding=2),
    nn.Tanh(),
    nn.Conv2d(64, 32, 3, padding=1),
    nn.Tanh(),
    nn.Conv2d(32, 9, 3, padding=1),
    nn.PixelShuffle(3),
    nn.Upsample(scale_factor=2, mode="bicubic"),
)
""",
    "mlp": """nn.Sequential(OrderedDict([
    ('flatten', nn.Flatten()),
    ('fc1', nn.Linear(784, 128)),
    ('act1', nn.ReLU()),
    ('fc2', nn.Linear(128, 64)),
    ('act2', nn.ReLU()),
    ('out', nn.Linear(64, 10)),
]))
""",
}

CONFIGS = {
    "seed": """max_batch_size: 32
input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 64, -1, -1 ] } ]
dynamic_batching { max_queue_delay_microseconds: 100 }
""",
    "lenet": """max_batch_size: 64
input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 10 ] } ]
dynamic_batching { max_queue_delay_microseconds: 200 preferred_batch_size: [ 16, 32 ] }
""",
    "mlp": """max_batch_size: 128
input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 10 ] } ]
dynamic_batching { max_queue_delay_microseconds: 100 }
""",
    "textclass": """max_batch_size: 32
input [ { name: "input" data_type: TYPE_INT64 dims: [ 128 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 4 ] } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
""",
    "superres": """max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] } ]
dynamic_batching { max_queue_delay_microseconds: 100 }
""",
}


def lines_dataset(n, generator):
    """n images of a noisy line at one of 10 angles; returns (images, labels)."""
    labels = torch.randint(0, 10, (n,), generator=generator)
    ys, xs = torch.meshgrid(torch.arange(28.0) - 13.5, torch.arange(28.0) - 13.5, indexing="ij")
    images = torch.empty(n, 1, 28, 28)
    for i in range(n):
        angle = math.radians(18 * labels[i].item() + torch.empty(1).uniform_(-4, 4, generator=generator).item())
        offset = torch.empty(2).uniform_(-2, 2, generator=generator)
        thickness = torch.empty(1).uniform_(1.0, 2.5, generator=generator).item()
        length = torch.empty(1).uniform_(8, 13, generator=generator).item()
        dx, dy = xs - offset[0], ys - offset[1]
        across = (-math.sin(angle) * dx + math.cos(angle) * dy).abs()
        along = (math.cos(angle) * dx + math.sin(angle) * dy).abs()
        line = ((across < thickness) & (along < length)).float()
        images[i, 0] = line + 0.2 * torch.randn(28, 28, generator=generator)
    return images, labels


def keywords_dataset(n, generator, length=128, vocab=1000, classes=4, copies=12):
    """n sequences of random word ids with `copies` of keyword c + 1 planted; label c."""
    labels = torch.randint(0, classes, (n,), generator=generator)
    ids = torch.randint(classes + 1, vocab, (n, length), generator=generator)
    for i in range(n):
        places = torch.randperm(length, generator=generator)[:copies]
        ids[i, places] = labels[i] + 1
    return ids, labels


def shapes_dataset(n, generator, size=48, factor=3, shapes=5):
    """n images of overlapping discs and boxes of random sizes and signed brightness (sharp
    edges: what a learned upscaler restores better than bicubic interpolation), size x size,
    and their factor x box-downsampled versions; returns (small, large)."""
    ys, xs = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    large = torch.zeros(n, 1, size, size)
    for i in range(n):
        for _ in range(shapes):
            cy, cx = (torch.rand(2, generator=generator) * size).tolist()
            radius = 3 + 8 * torch.rand(1, generator=generator).item()
            value = torch.rand(1, generator=generator).item() * 2 - 1
            if torch.rand(1, generator=generator).item() < 0.5:
                inside = (ys - cy) ** 2 + (xs - cx) ** 2 < radius ** 2
            else:
                inside = ((ys - cy).abs() < radius) & ((xs - cx).abs() < 0.6 * radius)
            large[i, 0] += value * inside.float()
    small = nn.functional.avg_pool2d(large, factor)
    return small, large


def train(model, images, labels, epochs):
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for start in range(0, len(images), 64):
            x, y = images[start:start + 64], labels[start:start + 64]
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimiser.step()


def train_steps(model, x, y, steps, batch):
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-4)
    for step in range(steps):
        start = step * batch % len(x)
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(x[start:start + batch]), y[start:start + batch])
        loss.backward()
        optimiser.step()


def main(names):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    train_x, train_y = lines_dataset(6000, generator)
    test_x, test_y = lines_dataset(1000, generator)
    for name, seq in MODELS.items():
        if names and name not in names:
            continue
        torch.manual_seed(golden.seed_of(name))
        model = golden.build(seq)
        if name == "superres":
            image_generator = torch.Generator().manual_seed(3)
            small, large = shapes_dataset(512, image_generator)
            model_test_x, model_test_y = shapes_dataset(64, image_generator)
            model.train()
            # The convolutions and PixelShuffle (model[:-1]) learn the 3x; Upsample is fixed.
            optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
            for step in range(800):
                start = step * 32 % len(small)
                optimiser.zero_grad()
                loss = nn.functional.mse_loss(model[:-1](small[start:start + 32]),
                                              large[start:start + 32])
                loss.backward()
                optimiser.step()
        elif name == "textclass":
            text_generator = torch.Generator().manual_seed(2)
            x, y = keywords_dataset(640, text_generator)
            model_test_x, model_test_y = keywords_dataset(64, text_generator)
            model.train()
            train_steps(model, x, y, steps=40, batch=16)
        elif name != "seed":
            model_test_x, model_test_y = test_x, test_y
            model.train()
            train(model, train_x, train_y, epochs=4)
        else:
            model_test_x, model_test_y = test_x, test_y
        model.eval()
        with torch.no_grad():
            if name == "superres":
                # How much of the detail lost to the downsampling the net restores: the error
                # of the 3x output against the original, relative to a bicubic 3x upscale's.
                bicubic = nn.functional.interpolate(model_test_x, scale_factor=3, mode="bicubic")
                accuracy = (nn.functional.mse_loss(model[:-1](model_test_x), model_test_y) /
                            nn.functional.mse_loss(bicubic, model_test_y)).item()
            elif name != "seed":
                accuracy = (model(model_test_x).argmax(1) == model_test_y).float().mean().item()
            else:
                accuracy = None
        version_dir = os.path.join(ROOT, name, "1")
        os.makedirs(version_dir, exist_ok=True)
        with open(os.path.join(version_dir, "model.seq"), "w") as f:
            f.write(seq)
        golden.write_safetensors(os.path.join(version_dir, "model.safetensors"), model.state_dict())
        with open(os.path.join(ROOT, name, "config.pbtxt"), "w") as f:
            f.write(CONFIGS[name])
        samples = os.path.join(ROOT, "..", "tests", "data", "bundled", name)
        os.makedirs(samples, exist_ok=True)
        x = model_test_x[:4]
        with torch.no_grad():
            y = model(x)
        np.save(os.path.join(samples, "input.npy"), x.numpy())
        np.save(os.path.join(samples, "expected.npy"), y.numpy())
        if name != "superres":  # its "labels" are images: nothing to classify
            np.save(os.path.join(samples, "labels.npy"),
                    model_test_y[:4].numpy().astype(np.float32))
        if name == "superres":
            print(f"{name}: error relative to bicubic upscaling {accuracy:.3f}")
        else:
            print(f"{name}: test accuracy {accuracy}" if accuracy is not None else f"{name}: written")


if __name__ == "__main__":
    main(sys.argv[1:])
