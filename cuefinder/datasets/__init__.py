"""The datasets: game soundtracks, IMDb labels and album folders, written as manifests."""
