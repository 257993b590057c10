"""Train the lecture's MLP(3, [4, 4, 1]) on its four samples and print the falling loss."""
import click

from micrograde.reference import MLP

XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]


def train(steps=20, lr=0.05, seed=0):
    """Gradient descent on the squared error; returns the loss after each step's forward pass."""
    model = MLP(3, [4, 4, 1], seed=seed)
    losses = []
    for _ in range(steps):
        loss = sum((model(x) - y) ** 2 for x, y in zip(XS, YS))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        losses.append(loss.data)
    return losses


@click.command()
@click.option('--steps', default=20, show_default=True, help='Gradient-descent steps.')
@click.option('--seed', default=0, show_default=True, help='Seed of the weight init.')
def main(steps, seed):
    """Print the loss at every step of training the lecture's network."""
    for step, loss in enumerate(train(steps, seed=seed)):
        click.echo(f'step {step:3d}  loss {loss:.6f}')


if __name__ == '__main__':
    main()
