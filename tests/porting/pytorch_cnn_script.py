"""A typical PyTorch training script, kept as PyTorch wrote it: tests/test_pytorch_port.py runs it with
giagrad after changing its import lines only (and, when PyTorch is installed, as it is)."""

import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset, random_split

torch.manual_seed(0)
np.random.seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# Synthetic 16x16 "images": class 1 when the bright blob sits in the top half.
images = np.random.rand(384, 1, 16, 16).astype(np.float32) * 0.2
labels = np.random.randint(0, 2, size=384)
for i, label in enumerate(labels):
    row = np.random.randint(0, 6) + (0 if label else 8)
    col = np.random.randint(0, 12)
    images[i, 0, row:row + 3, col:col + 3] += 1.0
dataset = TensorDataset(torch.from_numpy(images), torch.tensor(labels, dtype=torch.long))
train_set, val_set = random_split(dataset, [320, 64])
train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=0, pin_memory=False)
val_loader = DataLoader(val_set, batch_size=128, shuffle=False)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


model = Net().to(device)
print(f"parameters: {sum(p.numel() for p in model.parameters() if p.requires_grad)}")
criterion = nn.CrossEntropyLoss(label_smoothing=0.05)
optimizer = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
scheduler = StepLR(optimizer, step_size=2, gamma=0.5)


def train(epoch):
    model.train()
    total = 0.0
    for data, target in train_loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        total += loss.item() * data.size(0)
    return total / len(train_loader.dataset)


def evaluate(net):
    net.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for data, target in val_loader:
            data, target = data.to(device), target.to(device)
            output = net(data)
            loss += F.cross_entropy(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    return loss / len(val_loader.dataset), correct / len(val_loader.dataset)


for epoch in range(1, 4):
    train_loss = train(epoch)
    val_loss, accuracy = evaluate(model)
    scheduler.step()
    print(f"epoch {epoch}: train loss {train_loss:.4f}, val loss {val_loss:.4f}, "
          f"accuracy {accuracy:.3f}, lr {scheduler.get_last_lr()[0]:.4f}")

path = os.path.join(tempfile.mkdtemp(), "model.pt")
torch.save(model.state_dict(), path)
restored = Net().to(device)
restored.load_state_dict(torch.load(path, map_location=device, weights_only=True))
restored.eval()
model.eval()
sample = next(iter(val_loader))[0].to(device)
with torch.no_grad():
    assert torch.allclose(model(sample), restored(sample))
    probabilities = F.softmax(restored(sample), dim=1)
final_accuracy = evaluate(restored)[1]
print(f"restored model accuracy {final_accuracy:.3f}, mean confidence {probabilities.max(dim=1)[0].mean().item():.3f}")
