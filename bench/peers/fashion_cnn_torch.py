"""models/fashion_cnn.cfg in PyTorch, with the same module names (conv1, bn1, conv2, bn2, fc1,
fc2) so that weights map by name. Shared by the PyTorch peer (bench/peers/pytorch_fashion.py)
and the fixture writer (tests/fixtures/make_torch_fixtures.py)."""

import torch
import torch.nn.functional as F


class FashionCNN(torch.nn.Module):
    """conv-bn-relu-pool twice, fc 128, fc 10; PyTorch's default initialization."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(32)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(64)
        self.fc1 = torch.nn.Linear(64 * 7 * 7, 128)
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)
