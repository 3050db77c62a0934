"""Weight files for the tests of `s3n train --weights` (test/cli/pretrained.test.ts), made at test
time with Debian's PyTorch. Nothing is downloaded.

    /usr/bin/python3 make_pretrained.py torch OUTDIR SEED

writes, from torchvision's architectures with random weights (torch.manual_seed(SEED)):
    resnet18.pth            torch.save of resnet18's state dict (zip format, fc.* included)
    resnet18.legacy.pth     the same, _use_new_zipfile_serialization=False (pickle format)
    resnet18.safetensors    the same tensors as .safetensors (written by torch_parity.py's
                            save_safetensors: the safetensors package is not in Debian)
    resnet34.pth            resnet34's state dict (a file of another depth)
    tar_format.pth          a tar archive whose members are named like PyTorch's oldest
                            torch.save format (sys_info, pickle, tensors, storages: the layout of
                            torchvision's resnet50-19c8e357.pth); its members are placeholders
    keys.json               {arch: {"keys": [...], "shapes": {key: shape}}} of both state dicts

    /usr/bin/python3 make_pretrained.py keras SPEC.json OUT.h5 SEED

writes a Keras-layout .h5 (test/backbones/keras_h5.py's writer, the layout of Keras'
resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5: no classifier) for the layers of SPEC.json
([{"name": layer, "weights": [{"name": "layer/kernel:0", "shape": [...]}, ...]}, ...]), with
values a trained network could have: He-normal kernels, zero biases and betas, unit gammas and
moving variances, zero moving means (so the features stay finite).
"""
import io
import json
import os
import sys
import tarfile

# torch_parity.py (save_safetensors) and keras_h5.py (write).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'backbones'))


def tar_format(path):
    with tarfile.open(path, 'w:', format=tarfile.PAX_FORMAT) as tar:
        for name in ['sys_info', 'pickle', 'tensors', 'storages']:
            data = f'placeholder {name}\n'.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def main_torch(out, seed):
    import torch
    import torchvision
    from torch_parity import save_safetensors

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    keys = {}
    for arch in ['resnet18', 'resnet34']:
        sd = getattr(torchvision.models, arch)().state_dict()
        torch.save(sd, os.path.join(out, f'{arch}.pth'))
        keys[arch] = {'keys': list(sd.keys()), 'shapes': {k: list(v.shape) for k, v in sd.items()}}
        if arch == 'resnet18':
            torch.save(sd, os.path.join(out, f'{arch}.legacy.pth'), _use_new_zipfile_serialization=False)
            save_safetensors(sd, os.path.join(out, f'{arch}.safetensors'))
    tar_format(os.path.join(out, 'tar_format.pth'))
    with open(os.path.join(out, 'keys.json'), 'w') as f:
        json.dump(keys, f)


def main_keras(spec_file, out, seed):
    import numpy as np
    from keras_h5 import write

    with open(spec_file) as f:
        spec = json.load(f)
    rng = np.random.default_rng(seed)
    layers = []
    for layer in spec:
        weights = []
        for w in layer['weights']:
            kind = w['name'].rsplit('/', 1)[-1].split(':')[0]
            shape = w['shape']
            if kind == 'kernel':
                fan_in = int(np.prod(shape[:-1]))
                v = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
            elif kind in ('gamma', 'moving_variance'):
                v = np.ones(shape)
            else:
                v = np.zeros(shape)
            weights.append((w['name'], v.astype(np.float32)))
        layers.append((layer['name'], weights))
    write(out, [('conv1_pad', [])] + layers)


if __name__ == '__main__':
    if sys.argv[1] == 'torch':
        main_torch(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == 'keras':
        main_keras(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(f'unknown mode {sys.argv[1]!r}')
