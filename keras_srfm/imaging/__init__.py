"""Files on disk: image files, formats, atomic writes, folder locks, MATLAB imresize."""
