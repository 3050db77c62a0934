"""Keras-layout .h5 weight files for the tests of loadKerasWeights, written with h5py only.

    /usr/bin/python3 keras_h5.py SPEC.json OUTDIR [FILE ...]

SPEC.json: [{"name": layer, "weights": [{"name": "layer/kernel:0", "shape": [...]}, ...]}, ...]
(the model's layers in order, as keras_child.ts writes it). Weight number k (counting over all
layers in order) holds the float32 values ((7 i + 13 k) mod 101) / 50 - 1, i = 0, 1, ...

Writes the FILEs named (default: all four), in Keras 2's layout (hdf5_format.save_weights_to_hdf5_group: the attribute
`layer_names`, a group per layer with the attribute `weight_names`, the datasets at
`<layer>/<weight name>`):
    weights.h5     the spec, plus a layer without weights and Keras' classifier `predictions`
    split.h5       the same with `layer_names` and every `weight_names` split into name0, name1
                   (as Keras does above 64 KB), under /model_weights (model.save's layout)
    bad_shape.h5   the first weight with its last dimension halved
    missing.h5     without the last layer of the spec, with an unknown layer `dense_9`
"""
import json
import os
import sys

import h5py
import numpy as np


def values(shape, k):
    n = int(np.prod(shape)) if shape else 1
    i = np.arange(n, dtype=np.float64)
    return (((7 * i + 13 * k) % 101) / 50 - 1).astype(np.float32).reshape(shape)


def attribute(group, name, items, split):
    data = np.array([s.encode('utf8') for s in items]) if items else np.array([])
    if split and len(items) >= 2:
        half = len(items) // 2
        group.attrs[f'{name}0'] = data[:half]
        group.attrs[f'{name}1'] = data[half:]
    else:
        group.attrs[name] = data


def write(path, layers, split=False, under=None):
    with h5py.File(path, 'w') as f:
        root = f
        if under:
            f.attrs['model_config'] = json.dumps({'class_name': 'Functional'}).encode('utf8')
            root = f.create_group(under)
        root.attrs['backend'] = b'tensorflow'
        root.attrs['keras_version'] = b'2.11.0'
        attribute(root, 'layer_names', [name for name, _ in layers], split)
        for name, weights in layers:
            g = root.create_group(name)
            attribute(g, 'weight_names', [w for w, _ in weights], split)
            for w, v in weights:
                g.create_dataset(w, data=v)


def main(spec_file, out, files):
    with open(spec_file) as f:
        spec = json.load(f)
    layers = []
    k = 0
    for layer in spec:
        weights = []
        for w in layer['weights']:
            weights.append((w['name'], values(w['shape'], k)))
            k += 1
        layers.append((layer['name'], weights))
    extra = [('conv1_pad', [])]
    head = [('predictions', [('predictions/kernel:0', values([2048, 1000], 0)), ('predictions/bias:0', values([1000], 1))])]
    first = spec[0]['weights'][0]
    bad_shape = first['shape'][:-1] + [first['shape'][-1] // 2]
    makers = {
        'weights.h5': lambda path: write(path, extra + layers + head),
        'split.h5': lambda path: write(path, layers, split=True, under='model_weights'),
        'bad_shape.h5': lambda path: write(path, [(n, [(w, values(bad_shape, 0) if w == first['name'] else v) for w, v in ws]) for n, ws in layers]),
        'missing.h5': lambda path: write(path, layers[:-1] + [('dense_9', [('dense_9/kernel:0', values([4, 2], 0))])]),
    }
    for name in files or list(makers):
        makers[name](os.path.join(out, name))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
