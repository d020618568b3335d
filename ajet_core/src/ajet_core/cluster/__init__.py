"""The Ray clusters that Ray-based backbones (verl, trinity) run on: a private local head that
survives a loaded machine (:mod:`.ray_head`). Importing this package needs neither Ray nor psutil
until a head is started."""
