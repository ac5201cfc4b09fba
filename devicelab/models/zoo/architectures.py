"""The zoo's architectures as code: the models of the original study, built with plain Keras layers."""

from __future__ import annotations

from typing import Any


def lenet1(input_shape: tuple[int, ...] = (28, 28, 1), classes: int = 10) -> Any:
    """LeCun et al. 1989-style LeNet-1: two tanh conv layers with average pooling."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(4, 5, activation="tanh", padding="same")(inputs)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(12, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="lenet1")


def lenet5(input_shape: tuple[int, ...] = (28, 28, 1), classes: int = 10) -> Any:
    """LeNet-5 (LeCun et al. 1998) with ReLU, as used for MNIST in the deployment study."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(6, 5, activation="relu", padding="same")(inputs)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="relu")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="relu")(x)
    x = layers.Dense(84, activation="relu")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def resnet20(input_shape: tuple[int, ...] = (32, 32, 3), classes: int = 10) -> Any:
    """ResNet-20 for CIFAR-10 (He et al. 2016): 3 stages x 3 basic blocks, 16/32/64 filters."""
    import keras
    from keras import layers

    def conv_bn(x: Any, filters: int, strides: int = 1, relu: bool = True) -> Any:
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                          kernel_initializer="he_normal")(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x) if relu else x

    inputs = keras.Input(shape=input_shape, name="input")
    x = conv_bn(inputs, 16)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            strides = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            y = conv_bn(x, filters, strides)
            y = conv_bn(y, filters, relu=False)
            if strides != 1 or shortcut.shape[-1] != filters:
                shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(shortcut)
                shortcut = layers.BatchNormalization()(shortcut)
            x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="resnet20")


def _text_classifier(kind: str, input_shape: tuple[int, ...], classes: int, vocab: int) -> Any:
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, dtype="int32", name="tokens")
    x = layers.Embedding(vocab, 32, name="embedding")(inputs)
    x = (layers.LSTM if kind == "lstm" else layers.GRU)(32, name=kind)(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=kind)


def lstm(input_shape: tuple[int, ...] = (80,), classes: int = 2, vocab: int = 5000) -> Any:
    """Embedding + LSTM + dense: the seed study's text classifier (IMDb sentiment), over int32 token ids."""
    return _text_classifier("lstm", input_shape, classes, vocab)


def gru(input_shape: tuple[int, ...] = (80,), classes: int = 2, vocab: int = 5000) -> Any:
    """Embedding + GRU + dense: the seed study's other recurrent text classifier."""
    return _text_classifier("gru", input_shape, classes, vocab)
