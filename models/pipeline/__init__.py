"""Training pipeline of the keyword spotter: text, espeak-ng synthesis, line augmentation, training, evaluation."""
