/* milter/snapshot.h - placeholder */
