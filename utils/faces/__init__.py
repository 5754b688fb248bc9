"""Faces: detection, alignment, 128-d encodings, a SQLite face database and recognition
(notebooks ``4_1`` to ``4_3``; ``4_4`` reuses the detectors and encodings).

- :mod:`utils.faces.detect`: :func:`detect_faces` (Haar, HOG, CNN, MTCNN, res10 SSD and
  BlazeFace behind one call), :class:`Face`, :func:`crop_faces`, :func:`align`, :func:`encode`
  (face_recognition's own encodings and defaults), :func:`draw_faces`;
- :mod:`utils.faces.db`: :class:`FaceDB`, the face database (one SQLite file);
- :mod:`utils.faces.recognize`: nearest-neighbour / k-NN recognition, annotated images,
  the video and webcam loop;
- :mod:`utils.faces.samples`: the offline photos of real people, their augmented variants,
  and :func:`course_database`, the database 4_1 fills and 4_2 recognises with;
- ``python -m utils.faces``: the command line (``enrol``, ``recognize``, ``list``, ``remove``).

Face images are personal data: the database keeps encodings, not photos, unless asked.
"""
from .detect import (BLAZEFACE_KEYPOINTS, DEFAULT_MODEL, DETECTORS, ENCODER, LANDMARKS, NUM_JITTERS,  # noqa: F401
                     Face, align, blazeface_anchors, crop_faces, decode_blazeface, detect_faces, draw_faces,
                     encode, face_distance, face_landmarks, largest, missing_models, model_version)
from .db import DEFAULT_DB, UNKNOWN, EnrolError, Enrolled, EnrolReport, FaceDB, FaceDBError, check_name  # noqa: F401
from .recognize import (TOLERANCE, Match, VideoResult, annotate, match, recognize, recognize_video,  # noqa: F401
                        video_frames, write_video)
from .samples import course_database  # noqa: F401
